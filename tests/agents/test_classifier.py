"""The classifier: generative (enum schema, logprobs, choose), embedding zero-shot, trained head."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from orchestrator.agents import Classifier, EmbeddingHead
from orchestrator.agents.classifier import ClassifierInput, ClassifierOutput
from orchestrator.errors import ConfigError, InputError
from orchestrator.models.base import Capabilities, Completion
from orchestrator.models.scripted import FunctionModel, ScriptedModel
from orchestrator.specialist import SpecialistConfig

LABELS = ["billing", "shipping", "technical"]
EMBED_ONLY = Capabilities(structured_output="none", embeddings=True)


def request(text: str = "I was charged twice for my invoice") -> ClassifierInput:
    return ClassifierInput.model_validate({"text": text, "labels": LABELS})


def classifier(**options: object) -> Classifier:
    return Classifier(SpecialistConfig(options=dict(options)))


async def test_generative_valid_answer_uses_an_enum_schema_and_default_confidence() -> None:
    model = ScriptedModel([{"label": "billing"}])
    verdict = await classifier().attempt(request(), model)
    assert verdict.valid
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "billing"
    assert verdict.confidence == pytest.approx(0.6)
    call = model.calls[0]
    assert call.schema is not None
    assert call.schema["properties"]["label"]["enum"] == LABELS
    assert "billing" in call.prompt and '"enum"' in call.prompt  # schema is in the prompt


async def test_generative_label_is_matched_case_insensitively() -> None:
    verdict = await classifier().attempt(request(), ScriptedModel([{"label": "Billing"}]))
    assert verdict.output is not None and verdict.output.label == "billing"  # type: ignore[attr-defined]


async def test_invalid_label_then_repaired_shows_the_problem_to_the_model() -> None:
    model = ScriptedModel([{"label": "refunds"}, {"label": "billing"}])
    spec = classifier()
    first = await spec.attempt(request(), model)
    assert not first.valid
    assert "'refunds' is not one of: billing, shipping, technical" in first.problems[0]
    second = await spec.attempt(request(), model, previous=first)
    assert second.valid
    repair_prompt = model.calls[1].last_user
    assert "'refunds' is not one of" in repair_prompt
    assert model.calls[1].messages[-2].content == first.raw  # the model sees its own answer


async def test_invalid_twice_stays_invalid() -> None:
    model = ScriptedModel(["not json at all", {"label": "cats"}])
    spec = classifier()
    first = await spec.attempt(request(), model)
    second = await spec.attempt(request(), model, previous=first)
    assert not first.valid and not second.valid
    assert second.confidence == 0.0


async def test_confidence_from_token_logprobs_can_fall_below_threshold() -> None:
    reply = Completion(text='{"label": "shipping"}', parsed={"label": "shipping"}, token_logprobs=[-0.5, -1.0])
    spec = Classifier(SpecialistConfig(threshold=0.5))
    verdict = await spec.attempt(request(), ScriptedModel([reply]))
    assert verdict.valid
    assert verdict.confidence == pytest.approx(math.exp(-1.5))
    assert verdict.confidence < spec.config.threshold  # the router would escalate


async def test_choose_gives_a_softmax_over_label_log_likelihoods() -> None:
    class Scorer(ScriptedModel):
        def __init__(self) -> None:
            super().__init__()
            self.options_seen: list[str] = []

        async def choose(self, prompt: str, options: list[str]) -> list[float]:
            self.options_seen = options
            return [-1.0, -3.0, -3.0]  # log-likelihoods

    model = Scorer()
    verdict = await classifier().attempt(request(), model)
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "billing"
    expected = math.exp(-1) / (math.exp(-1) + 2 * math.exp(-3))
    assert verdict.confidence == pytest.approx(expected)
    assert verdict.output.scores is not None and set(verdict.output.scores) == set(LABELS)
    assert [o.strip() for o in model.options_seen] == LABELS
    assert model.calls == []  # no generation needed


async def test_embedding_zero_shot_picks_the_closest_label_description() -> None:
    req = ClassifierInput.model_validate({
        "text": "my parcel delivery is late, where is the package",
        "labels": [
            {"name": "billing", "description": "invoice charge payment refund"},
            {"name": "shipping", "description": "parcel package delivery late"},
        ],
    })
    model = ScriptedModel(capabilities=EMBED_ONLY)
    spec = classifier()
    assert spec.mode_for(model) == "embedding"
    verdict = await spec.attempt(req, model)
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "shipping"
    assert verdict.output.scores is not None
    assert sum(verdict.output.scores.values()) == pytest.approx(1.0)
    assert verdict.confidence == pytest.approx(verdict.output.scores["shipping"])


async def test_sentence_matching_finds_the_one_telling_sentence_of_a_long_text() -> None:
    labels = [
        {"name": "outage", "description": "The service is down: production is down, nothing loads for anyone"},
        {"name": "billing", "description": "Charges and invoices: charged twice, the invoice amount is wrong"},
    ]
    text = ("Hi team, I hope you are well. We reviewed the invoice and the quarterly invoice totals went fine. "
            "Since this morning production is down. Regards, Sam")
    req = ClassifierInput.model_validate({"text": text, "labels": labels})
    model = ScriptedModel(capabilities=EMBED_ONLY)
    verdict = await classifier(mode="embedding").attempt(req, model)
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "outage"
    embedded = {t for call in model.embed_calls for t in call}
    assert "production is down" in embedded  # each phrase of a description is its own vector
    assert "Since this morning production is down." in embedded  # and each sentence of the text
    whole = await classifier(mode="embedding", match="text").attempt(req, ScriptedModel(capabilities=EMBED_ONLY))
    assert whole.output is not None and whole.output.scores is not None
    assert verdict.output.scores is not None
    assert verdict.output.scores["outage"] > whole.output.scores["outage"]


async def test_embedding_margin_confidence_is_lower_than_top_probability() -> None:
    req = ClassifierInput.model_validate({"text": "parcel late", "labels": [
        {"name": "a", "description": "parcel late"}, {"name": "b", "description": "parcel"}]})
    top = await classifier(mode="embedding", temperature=1.0).attempt(req, ScriptedModel())
    margin = await classifier(mode="embedding", temperature=1.0, confidence="margin").attempt(req, ScriptedModel())
    assert 0.0 <= margin.confidence < top.confidence <= 1.0


async def test_embedding_mode_on_a_model_that_cannot_embed_is_a_config_error() -> None:
    model = ScriptedModel(capabilities=Capabilities(embeddings=False))
    with pytest.raises(ConfigError, match="does not"):
        await classifier(mode="embedding").attempt(request(), model)


async def test_auto_mode_picks_generative_for_chat_models() -> None:
    assert classifier().mode_for(ScriptedModel()) == "generative"
    assert classifier().mode_for(ScriptedModel(capabilities=Capabilities(parameters_b=7.0, embeddings=True))) \
        == "generative"
    assert classifier(head_path="x.json").mode_for(ScriptedModel()) == "head"


async def test_auto_mode_classifies_by_embedding_on_tiny_models_that_embed() -> None:
    tiny = Capabilities(structured_output="grammar", parameters_b=0.27, embeddings=True)
    assert classifier().mode_for(ScriptedModel(capabilities=tiny)) == "embedding"
    assert classifier(min_generative_b=0.1).mode_for(ScriptedModel(capabilities=tiny)) == "generative"
    no_embed = tiny.model_copy(update={"embeddings": False})
    assert classifier().mode_for(ScriptedModel(capabilities=no_embed)) == "generative"


TRAIN = [
    ("refund my invoice charge", "billing"), ("I was charged twice", "billing"),
    ("payment failed on my card", "billing"), ("wrong amount on the bill", "billing"),
    ("where is my parcel", "shipping"), ("delivery is late", "shipping"),
    ("package never arrived", "shipping"), ("track my shipment", "shipping"),
    ("app crashes on login", "technical"), ("error when I open the app", "technical"),
    ("password reset does not work", "technical"), ("the website is down", "technical"),
]


@pytest.mark.parametrize("backend", ["numpy", "sklearn"])
async def test_head_fits_a_tiny_dataset_and_round_trips_through_json(backend: str, tmp_path: Path) -> None:
    model = ScriptedModel(capabilities=EMBED_ONLY)
    texts, labels = zip(*TRAIN, strict=True)
    head = await EmbeddingHead.fit(list(texts), list(labels), model.embed, embedder=model.ref,
                                   backend=backend)  # type: ignore[arg-type]
    assert head.backend == backend
    vectors = await model.embed(list(texts))
    accuracy = sum(p == y for p, y in zip(head.predict(vectors), labels, strict=True)) / len(labels)
    assert accuracy == 1.0
    path = tmp_path / "head.json"
    head.save(path)
    assert json.loads(path.read_text())["labels"] == sorted(set(labels))
    loaded = EmbeddingHead.load(path)
    assert loaded.predict_proba(vectors) == pytest.approx(head.predict_proba(vectors))


async def test_head_mode_classifies_with_the_saved_head(tmp_path: Path) -> None:
    model = ScriptedModel(capabilities=EMBED_ONLY)
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("text,category\n" + "".join(f"{t},{lab}\n" for t, lab in TRAIN))
    head = await EmbeddingHead.fit_from_file(csv_path, model, backend="numpy")
    head.save(tmp_path / "head.json")
    spec = classifier(head_path=str(tmp_path / "head.json"))
    verdict = await spec.attempt(request("my parcel delivery is late"), model)
    assert isinstance(verdict.output, ClassifierOutput)
    assert verdict.output.label == "shipping"
    assert verdict.output.scores is not None and sum(verdict.output.scores.values()) == pytest.approx(1.0)
    # labels given in the request restrict the head's answer
    only = ClassifierInput.model_validate({"text": "my parcel delivery is late", "labels": ["billing", "technical"]})
    restricted = await spec.attempt(only, model)
    assert restricted.output is not None and restricted.output.label in {"billing", "technical"}  # type: ignore[attr-defined]


def test_head_load_rejects_files_that_are_not_heads(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": "pickle"}')
    with pytest.raises(ConfigError, match="not an embedding head"):
        EmbeddingHead.load(path)


def test_input_rejects_duplicate_labels_and_unknown_example_labels() -> None:
    with pytest.raises(ValueError, match="unique"):
        ClassifierInput.model_validate({"text": "x", "labels": ["a", "a"]})
    with pytest.raises(ValueError, match="not in labels"):
        ClassifierInput.model_validate({"text": "x", "labels": ["a"], "examples": [{"text": "y", "label": "b"}]})


async def test_few_shot_examples_appear_in_the_prompt() -> None:
    model = FunctionModel(lambda call: {"label": "billing"})
    req = ClassifierInput.model_validate({"text": "t", "labels": LABELS,
                                          "examples": [{"text": "card declined", "label": "billing"}]})
    await classifier().attempt(req, model)
    assert "card declined" in model.calls[0].prompt


async def test_head_fits_from_jsonl_and_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    model = ScriptedModel(capabilities=EMBED_ONLY)
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "intent": lab}) + "\n" for t, lab in TRAIN) + "\n")
    head = await EmbeddingHead.fit_from_file(jsonl, model, backend="numpy")
    assert sorted(head.labels) == ["billing", "shipping", "technical"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "label": "b"}\n{"text": oops}\n')
    with pytest.raises(InputError, match=r"broken.jsonl:2: not a JSON object"):
        await EmbeddingHead.fit_from_file(broken, model)
    with pytest.raises(InputError, match=r"needs columns 'body' and a label column; found \['intent', 'text'\]"):
        await EmbeddingHead.fit_from_file(jsonl, model, text_column="body")
    with pytest.raises(InputError, match="cannot read the examples"):
        await EmbeddingHead.fit_from_file(tmp_path / "missing.csv", model)


@pytest.mark.parametrize(
    "answer",
    ['```json {"label": "shipping"}```', 'Label: {"label": "shipping"} (hope that helps)', '`{"label": "shipping"}`'],
)
async def test_fenced_and_wrapped_answers_are_read_by_the_shared_json_parser(answer: str) -> None:
    verdict = await classifier().attempt(request(), ScriptedModel([answer]))
    assert verdict.valid, verdict.problems
    assert verdict.output is not None and verdict.output.label == "shipping"  # type: ignore[attr-defined]


async def test_an_answer_with_no_json_asks_for_a_label_object() -> None:
    verdict = await classifier().attempt(request(), ScriptedModel(["shipping, I think"]))
    assert verdict.problems == ['the answer must be JSON like {"label": "<one of the labels>"}']
