"""document_digest: chunk_text beside two parallel summarizer steps (see the module docstring)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from orchestrator.errors import InputError
from orchestrator.plan import Plan, resolve
from tools.chunking import ChunkText, ChunkTextInput
from workflows import document_digest_workflow
from workflows.document_digest import DEFAULT_SUMMARY_WORDS, HEADLINE_WORDS

DOCUMENT = (Path(__file__).parents[2] / "examples" / "documents" / "support_operations_report.txt").read_text()


@pytest.fixture
def plan(catalog: list[str]) -> Plan:
    return document_digest_workflow.compile(catalog=catalog)


def test_all_steps_run_in_parallel(plan: Plan) -> None:
    assert [(s.id, s.agent) for s in plan.steps] == [("chunks", "chunk_text"), ("summary", "summarizer"),
                                                     ("headline", "summarizer")]
    assert all(s.depends_on == set() for s in plan.steps)
    assert plan.step_map["summary"].input_names == {"document", "max_words"}
    assert plan.output == {"headline": "$steps.headline.summary", "summary": "$steps.summary.summary",
                           "method": "$steps.summary.method", "chunk_count": "$steps.chunks.count"}


def test_styles(plan: Plan) -> None:
    steps = plan.step_map
    assert steps["summary"].params == {"style": "bullets"}
    assert steps["summary"].inputs["max_words"] == "$input.max_words"
    assert steps["headline"].params == {"style": "one_sentence", "max_words": HEADLINE_WORDS}


def test_max_words_is_optional_and_coerced() -> None:
    assert document_digest_workflow.bind({"document": DOCUMENT}) == {
        "document": DOCUMENT, "max_words": DEFAULT_SUMMARY_WORDS}
    assert document_digest_workflow.bind({"document": DOCUMENT, "max_words": "80"})["max_words"] == 80
    with pytest.raises(InputError, match="document"):
        document_digest_workflow.bind({"max_words": 80})
    with pytest.raises(InputError, match="max_words"):
        document_digest_workflow.bind({"document": DOCUMENT, "max_words": "many"})


def test_chunk_step_counts_the_example_document(plan: Plan) -> None:
    step = plan.step_map["chunks"]
    inputs = document_digest_workflow.bind({"document": DOCUMENT})
    out = ChunkText().run(ChunkTextInput.model_validate(resolve({**step.params, **step.inputs}, inputs, {})))
    assert out.count == 5


def test_summarizer_inputs_validate(plan: Plan, specialist_inputs: dict[str, type[BaseModel]]) -> None:
    inputs = document_digest_workflow.bind({"document": DOCUMENT})
    for step_id in ("summary", "headline"):
        step = plan.step_map[step_id]
        specialist_inputs["summarizer"].model_validate(resolve({**step.params, **step.inputs}, inputs, {}))
