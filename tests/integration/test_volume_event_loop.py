"""A batch on the real embedding model never stalls the event loop (model work runs off it)."""

from __future__ import annotations

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.models.sentence import SentenceTransformerModel
from orchestrator.settings import Settings
from orchestrator.workflow import Input, Workflow
from orchestrator.workflows.ticket_triage import CATEGORIES, URGENCIES
from tests.loop_lag import LoopLag

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]

STALL_BOUND = 1.0
"""Seconds: no single stall this long, while sentence-transformers encodes for several seconds."""

PHRASES = ["my card payment was declined", "where is the refund for my order", "I cannot sign in to the app",
           "the transfer has not arrived yet", "please add an export option", "the app crashes on start",
           "I was charged twice this month", "how do I change my address"]


def triage_lite() -> Workflow:
    """Ticket triage's embedding steps: two classifiers and an extractive summary of one ticket."""
    wf = Workflow("triage_lite", "Classify and summarise a ticket.", inputs={"ticket": Input(str, "The ticket.")})
    category = wf.step("category", "classifier", params={"labels": CATEGORIES}, text=wf.input.ticket)
    urgency = wf.step("urgency", "classifier", params={"labels": URGENCIES}, text=wf.input.ticket)
    summary = wf.step("summary", "summarizer", params={"max_words": 30}, text=wf.input.ticket)
    wf.output(category=category.label, urgency=urgency.label, summary=summary.summary)
    return wf


async def test_a_batch_on_the_real_encoder_never_stalls_the_loop() -> None:
    pytest.importorskip("sentence_transformers")
    tickets = [{"ticket": f"Hello, {a} and {b}. Ticket number {i}, thanks."}
               for i, (a, b) in enumerate((PHRASES[i % 8], PHRASES[(i * 3 + 1) % 8]) for i in range(240))]
    async with Orchestrator(Settings.load(profile="embedded")) as orch:
        orch.registry.add_workflow(triage_lite())
        model = orch.pool.client("embed")
        assert isinstance(model, SentenceTransformerModel)
        await model.embed(["load the encoder outside the measurement"])
        async with LoopLag() as lag:
            results = [r async for r in orch.run_many("triage_lite", tickets, concurrency=32)]
        stats = (await model.batcher()).stats
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    assert len(results) == 240
    assert stats.passes > 1 and max(stats.sizes) > 1  # the runs' calls were batched
    assert lag.ticks > 0 and lag.worst < STALL_BOUND, f"the event loop stalled for {lag.worst:.2f}s"
