"""document_digest: chunk, summarise every section in parallel (for_each), combine, then reduce."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel

from orchestrator import FunctionModel, Orchestrator, Settings
from orchestrator.errors import InputError
from orchestrator.models import ModelCall
from orchestrator.plan import Plan, resolve
from orchestrator.tools.chunking import ChunkText, ChunkTextInput
from orchestrator.workflows import document_digest_workflow
from orchestrator.workflows.document_digest import DEFAULT_SUMMARY_WORDS, HEADLINE_WORDS, SECTION_CHARS, SECTION_WORDS

DOCUMENT = (Path(__file__).parents[2] / "examples" / "documents" / "support_operations_report.txt").read_text()
CHUNKS = ChunkText().run(ChunkTextInput(text=DOCUMENT, max_chars=SECTION_CHARS)).chunks


@pytest.fixture
def plan(catalog: list[str]) -> Plan:
    return document_digest_workflow.compile(catalog=catalog)


def test_shape_is_chunk_map_combine_reduce(plan: Plan) -> None:
    steps = plan.step_map
    assert [(s.id, s.agent) for s in plan.steps] == [("chunks", "chunk_text"), ("sections", "summarizer"),
                                                     ("combined", "join_texts"), ("summary", "summarizer"),
                                                     ("headline", "summarizer")]
    assert steps["sections"].for_each == "$steps.chunks.chunks"
    assert steps["sections"].inputs == {"text": "$item"}
    assert steps["combined"].inputs == {"texts": "$steps.sections.*.summary"}
    assert steps["summary"].depends_on == steps["headline"].depends_on == {"combined"}  # reduce side by side
    assert plan.output == {"headline": "$steps.headline.summary", "summary": "$steps.summary.summary",
                           "sections": "$steps.sections.*.summary", "chunk_count": "$steps.chunks.count"}


def test_styles(plan: Plan) -> None:
    steps = plan.step_map
    assert steps["sections"].params == {"style": "paragraph", "max_words": SECTION_WORDS}
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


def test_the_example_document_has_five_sections(plan: Plan) -> None:
    step = plan.step_map["chunks"]
    inputs = document_digest_workflow.bind({"document": DOCUMENT})
    out = ChunkText().run(ChunkTextInput.model_validate(resolve({**step.params, **step.inputs}, inputs, {})))
    assert out.chunks == CHUNKS and out.count == 5


def test_summarizer_inputs_validate(plan: Plan, specialist_inputs: dict[str, type[BaseModel]]) -> None:
    inputs = document_digest_workflow.bind({"document": DOCUMENT})
    summarizer = specialist_inputs["summarizer"]
    sections = plan.step_map["sections"]
    for chunk in CHUNKS:
        summarizer.model_validate(resolve({**sections.params, **sections.inputs}, inputs, {}, item=chunk))
    outputs = {"combined": {"text": "Section one.\n\nSection two.", "count": 2}}
    for step_id in ("summary", "headline"):
        step = plan.step_map[step_id]
        summarizer.model_validate(resolve({**step.params, **step.inputs}, inputs, outputs))


def _text(call: ModelCall) -> str:
    return call.last_user.split("Text:\n", 1)[1].rsplit("\n\nSummary:", 1)[0]


async def test_end_to_end_sections_in_parallel_and_in_order() -> None:
    in_flight, peak = 0, 0

    async def small_model(call: ModelCall) -> str:
        nonlocal in_flight, peak
        task = call.messages[0].content
        if "Task: Summarise this section" in task:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            return f"Section {CHUNKS.index(_text(call))} in brief."
        if "Task: Give the document's main message" in task:
            return "Support got faster this quarter."
        return "- Faster replies\n- Fewer escalations"

    model = FunctionModel(small_model)
    settings = Settings(models={"small": {"ref": "python:tests.workflows:unused"}}, default_cascade=["small"])
    result = await Orchestrator(settings, models={"small": model}).run("document_digest", {"document": DOCUMENT})

    assert result.ok, result.error
    sections = [f"Section {i} in brief." for i in range(len(CHUNKS))]
    assert result.answer == {"headline": "Support got faster this quarter.",
                             "summary": "- Faster replies\n- Fewer escalations",
                             "sections": sections, "chunk_count": 5}
    # Five section calls, at most four at once (the model's concurrency limit), then the two reduce calls.
    assert len(model.calls) == 7
    assert peak == 4
    reduce_texts = {_text(c) for c in model.calls[-2:]}
    assert reduce_texts == {"\n\n".join(sections)}
    section_outputs = result.step("sections").output
    assert [(o["summary"], o["method"]) for o in section_outputs] == [(s, "generative") for s in sections]
