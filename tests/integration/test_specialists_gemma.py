"""The built-in specialists on real local models: Gemma 3 270M (llama.cpp) and all-MiniLM-L6-v2."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

import pytest

from orchestrator.agents import Classifier, Extractor, Summarizer
from orchestrator.agents._grounding import occurs_in
from orchestrator.agents.classifier import ClassifierInput, ClassifierOutput
from orchestrator.agents.extractor import ExtractorInput, ExtractorOutput
from orchestrator.agents.summarizer import SummarizerInput, SummarizerOutput
from orchestrator.models.base import Model
from orchestrator.models.spec import ModelSpec, create_model
from orchestrator.specialist import SpecialistConfig

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]

RECEIPT = """GARDENIA BAKERIES (KL) SDN BHD
LOT 3, 40300 SHAH ALAM
TEL: 03-55423228
DATE: 23/09/2017
O.C. WHITE 2.13 5 10.65
TOTAL PAYABLE:
14.47
THANK YOU"""
DIALOGUE = """Hannah: Hey, do you have Betty's number?
Amanda: Lemme check
Amanda: Sorry, can't find it. Ask Larry, he called her last time.
Hannah: I don't know him well
Amanda: Don't be shy, he's very nice
Hannah: Alright, I will text Larry"""


def _require(module: str, backend: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{backend} is not importable here ({module} missing)")


@pytest.fixture(params=["in-process", "server"])
async def gemma(request: pytest.FixtureRequest) -> AsyncIterator[Model]:
    """Gemma 3 270M through llama.cpp: in this process, and behind ``python -m llama_cpp.server``."""
    _require("llama_cpp", "llama.cpp backend (pip install 'slm-orchestrator[llamacpp]')")
    if request.param == "in-process":
        spec = ModelSpec(ref="llamacpp:gemma3-270m")
    else:
        base_url: str = request.getfixturevalue("llama_server")
        spec = ModelSpec(ref="openai:gemma-3-270m", options={"base_url": base_url, "parameters_b": 0.27})
    model = create_model(spec)
    assert model.capabilities.local
    yield model
    await model.aclose()


@pytest.fixture
async def minilm() -> AsyncIterator[Model]:
    _require("sentence_transformers", "sentence-transformers (pip install 'slm-orchestrator[embeddings]')")
    _require("orchestrator.models.sentence", "the sentence-transformers model client")
    model = create_model(ModelSpec(ref="st:all-minilm-l6-v2"))
    yield model
    await model.aclose()


LABELS = ["billing", "shipping", "technical_issue"]


async def test_gemma_classifies_into_the_label_set(gemma: Model) -> None:
    request = ClassifierInput.model_validate({"text": "I was charged twice on my credit card this month",
                                              "labels": LABELS})
    generative = Classifier(SpecialistConfig(options={"mode": "generative"}))
    verdict = await generative.attempt(request, gemma)
    assert verdict.valid, verdict.problems
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label in LABELS
    assert 0.0 <= verdict.confidence <= 1.0


async def test_minilm_classifies_zero_shot(minilm: Model) -> None:
    request = ClassifierInput.model_validate({"text": "my parcel has not been delivered yet", "labels": LABELS})
    verdict = await Classifier().attempt(request, minilm)
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "shipping"


async def test_gemma_extracts_grounded_values(gemma: Model) -> None:
    request = ExtractorInput.model_validate({"text": RECEIPT, "required": ["date", "total"], "fields": {
        "company": "the seller's company name", "date": "date", "total": "number"}})
    extractor = Extractor()
    assert extractor.grounded_on(gemma)
    verdict = await extractor.attempt(request, gemma)
    assert verdict.valid, verdict.problems
    assert isinstance(verdict.output, ExtractorOutput)
    data = verdict.output.data
    assert set(data) == {"company", "date", "total"}
    assert all(occurs_in(value, RECEIPT) for value in data.values())
    assert data["date"] == "23/09/2017"
    assert data["total"] == pytest.approx(14.47)


async def test_gemma_summarises_with_a_non_empty_summary(gemma: Model) -> None:
    summarizer = Summarizer()
    verdict = await summarizer.attempt(SummarizerInput(text=DIALOGUE, max_words=30), gemma)
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.summary.strip()
    assert verdict.output.method == "extractive"  # 270M is below min_generative_b
    forced = Summarizer(SpecialistConfig(options={"extractive": False}))
    generative = await forced.attempt(SummarizerInput(text=DIALOGUE, max_words=30), gemma)
    if generative.valid:  # a 270M base model may ramble; the router would repair or escalate
        assert isinstance(generative.output, SummarizerOutput)
        assert generative.output.method == "generative" and generative.output.summary.strip()
    else:
        assert generative.problems
