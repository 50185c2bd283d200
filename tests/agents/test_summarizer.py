"""The summarizer: generative, map-reduce for long texts, extractive fallback."""

from __future__ import annotations

import pytest

from orchestrator.agents import Summarizer
from orchestrator.agents._grounding import split_sentences
from orchestrator.agents.summarizer import SummarizerInput, SummarizerOutput, chunk_text
from orchestrator.models.base import Capabilities, Completion
from orchestrator.models.scripted import FunctionModel, ModelCall, ScriptedModel
from orchestrator.specialist import SpecialistConfig

DIALOGUE = """Hannah: Hey, do you have Betty's number?
Amanda: Lemme check
Amanda: Sorry, can't find it.
Amanda: Ask Larry, he called her last time we were at the park together
Hannah: I don't know him well
Amanda: Don't be shy, he's very nice
Hannah: Urgh.. Alright, I will text Larry about Betty's number
Amanda: Bye bye"""


def summarizer(**options: object) -> Summarizer:
    return Summarizer(SpecialistConfig(options=dict(options)))


async def test_generative_summary() -> None:
    model = ScriptedModel(["Summary: Hannah asks Amanda for Betty's number; Amanda suggests Larry."])
    verdict = await summarizer().attempt(SummarizerInput(text=DIALOGUE, max_words=20), model)
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.summary == "Hannah asks Amanda for Betty's number; Amanda suggests Larry."
    assert verdict.output.method == "generative"
    assert verdict.confidence == pytest.approx(0.7)
    assert "at most 20 words" in model.calls[0].prompt


async def test_empty_then_too_long_then_repaired() -> None:
    model = ScriptedModel(["", " ".join(["word"] * 50), "Hannah needs Betty's number."])
    spec = summarizer()
    req = SummarizerInput(text=DIALOGUE, max_words=10)
    first = await spec.attempt(req, model)
    assert first.problems == ["the summary is empty"]
    second = await spec.attempt(req, model, previous=first)
    assert second.problems == ["the summary has 50 words; use at most 10"]
    assert "the summary is empty" in model.calls[1].last_user
    third = await spec.attempt(req, model, previous=second)
    assert third.valid


async def test_low_confidence_from_logprobs() -> None:
    reply = Completion(text="Hannah needs a number.", token_logprobs=[-2.0, -2.0, -2.0])
    verdict = await summarizer().attempt(SummarizerInput(text=DIALOGUE), ScriptedModel([reply]))
    assert verdict.valid
    assert verdict.confidence == pytest.approx(0.1353, abs=1e-3)


async def test_long_text_is_map_reduced_concurrently() -> None:
    paragraphs = [f"Section {i} reports that the team shipped feature number {i} on time. " * 12
                  for i in range(12)]
    text = "\n\n".join(paragraphs)
    in_flight = 0
    peak = 0

    async def reply(call: ModelCall) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        import asyncio
        await asyncio.sleep(0.01)
        in_flight -= 1
        return "combined" if "consecutive parts" in call.prompt else "part summary"

    model = FunctionModel(reply, capabilities=Capabilities(context_size=512))
    spec = summarizer()
    verdict = await spec.attempt(SummarizerInput(text=text, max_words=30), model)
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.method == "map_reduce"
    assert verdict.output.summary == "combined"
    chunks = len(chunk_text(text, 512 * 6 // 10 - 60))
    assert chunks > 1
    assert len(model.calls) == chunks + 1  # map every chunk, then one reduce
    assert peak > 1  # the map ran concurrently
    assert all(len(call.prompt) < 512 * 4 for call in model.calls)
    # a repair re-runs only the reduce
    verdict.problems.append("pretend it was wrong")
    await spec.attempt(SummarizerInput(text=text, max_words=30), model, previous=verdict)
    assert len(model.calls) == chunks + 2


async def test_extractive_keeps_sentences_verbatim_within_max_words() -> None:
    model = ScriptedModel(capabilities=Capabilities(embeddings=True, parameters_b=0.27))
    spec = summarizer()
    assert spec.extractive_on(model)
    verdict = await spec.attempt(SummarizerInput(text=DIALOGUE, max_words=25), model)
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.method == "extractive"
    assert verdict.confidence == pytest.approx(0.9)
    assert model.calls == []  # no generation
    assert len(verdict.output.summary.split()) <= 25
    lines = DIALOGUE.splitlines()
    picked = [line for line in lines if line in verdict.output.summary]
    assert picked and " ".join(picked) == verdict.output.summary  # whole lines, in original order
    assert model.embed_calls  # sentences were embedded


async def test_extractive_bullets_and_one_sentence() -> None:
    text = ("The council approved the new park budget on Monday. Residents had asked for more trees. "
            "The budget includes a playground. Construction starts in May.")
    model = ScriptedModel(capabilities=Capabilities(embeddings=False, parameters_b=0.1))
    bullets = await summarizer().attempt(SummarizerInput(text=text, max_words=20, style="bullets"), model)
    assert isinstance(bullets.output, SummarizerOutput)
    for line in bullets.output.summary.splitlines():
        assert line.startswith("- ") and line[2:] in text
    one = await summarizer().attempt(SummarizerInput(text=text, max_words=40, style="one_sentence"), model)
    assert isinstance(one.output, SummarizerOutput)
    assert one.output.summary in text and one.output.summary.count(".") == 1


async def test_extractive_cuts_a_single_overlong_sentence_to_the_budget() -> None:
    text = "This one sentence has far more words than the tiny budget allows for the summary."
    verdict = await summarizer(extractive=True).attempt(SummarizerInput(text=text, max_words=5), ScriptedModel())
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.summary == "This one sentence has far"


async def test_extractive_skips_headings_and_signatures_and_drops_a_subject_label() -> None:
    text = ("Subject: The March checkout outage cost us two hours of sales.\n\n1. Summary\n"
            "Customers could not pay between 9 and 11 on Monday.\nThe root cause was an expired certificate.\n"
            "Regards\nJane Doe")
    verdict = await summarizer(extractive=True).attempt(SummarizerInput(text=text, max_words=60), ScriptedModel())
    assert isinstance(verdict.output, SummarizerOutput)
    summary = verdict.output.summary
    assert "1. Summary" not in summary and "Jane Doe" not in summary and "Regards" not in summary
    assert "Subject:" not in summary
    assert summary.startswith("The March checkout outage cost us two hours of sales.")


async def test_extractive_on_a_text_of_headings_only_still_answers() -> None:
    verdict = await summarizer(extractive=True).attempt(SummarizerInput(text="Summary\nNext steps"), ScriptedModel())
    assert isinstance(verdict.output, SummarizerOutput)
    assert verdict.output.summary in ("Summary", "Next steps", "Summary Next steps")


async def test_extractive_weighs_a_bounded_sample_of_a_very_long_text() -> None:
    text = " ".join(f"Sentence number {i} reports event {i * 7} in the log." for i in range(5000))
    model = ScriptedModel(capabilities=Capabilities(embeddings=True, parameters_b=0.1))
    verdict = await summarizer(max_sentences=50).attempt(SummarizerInput(text=text, max_words=40), model)
    assert isinstance(verdict.output, SummarizerOutput) and verdict.output.summary
    (embedded,) = model.embed_calls
    assert len(embedded) == 51  # 50 sentences sampled across the text, and the text's opening
    assert "Sentence number 0 " in embedded[0] and "Sentence number 4900 " in embedded[49]
    assert all(s in text for s in split_sentences(verdict.output.summary))
