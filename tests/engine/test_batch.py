"""Orchestrator.run_many: every item once, bounded concurrency, failures recorded, skip, progress, early stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.batch import BatchItem, BatchProgress, ItemResult
from orchestrator.errors import ModelError, UserError
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.settings import Settings
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import make_registry


class Loud:
    """The echo specialist's model: upper-cases, counts calls in flight, fails on ``boom``."""

    def __init__(self, delay: float = 0.01):
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    async def __call__(self, call: ModelCall) -> dict[str, Any]:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if "boom" in call.last_user:
            raise ModelError("function:small", "the model fell over on this one")
        return {"text": call.last_user.upper(), "confidence": 0.99}


def build(loud: Loud) -> Orchestrator:
    registry, _ = make_registry()
    echo = Workflow("echo", "Upper-case a text.", inputs={"text": Input(str, "The text.")})
    echo.output(text=echo.step("shout", "echo", text=echo.input.text).text)
    registry.add_workflow(echo)
    settings = Settings(models={"small": ModelSpec(ref="function:small", local=True, concurrency=64, retries=0)},
                        default_cascade=["small"], default_sensitivity="public", planner={"model": None})
    return Orchestrator(settings, registry=registry, models={"small": FunctionModel(loud, ref="function:small")})


async def collect(orch: Orchestrator, items: Any, **options: Any) -> list[ItemResult]:
    return [result async for result in orch.run_many("echo", items, **options)]


async def test_every_item_runs_once_within_the_concurrency_bound() -> None:
    loud = Loud()
    items = [{"text": f"ticket {i}"} for i in range(20)]
    async with build(loud) as orch:
        results = await collect(orch, items, concurrency=4)

    assert sorted(r.index for r in results) == list(range(20))
    assert all(r.ok and r.status == "completed" for r in results)
    assert {r.id: r.answer for r in results} == {str(i): {"text": f"TICKET {i}"} for i in range(20)}
    assert loud.calls == 20
    assert 1 < loud.peak <= 4


async def test_a_failing_item_is_recorded_with_its_reason_and_the_batch_goes_on() -> None:
    items = [{"text": "fine"}, {"text": "boom"}, {"wrong": "input"}, {"text": "also fine"}]
    async with build(Loud()) as orch:
        results = {r.index: r for r in await collect(orch, items, concurrency=2)}

    assert [results[i].ok for i in range(4)] == [True, False, False, True]
    assert results[1].status == "failed" and "fell over" in (results[1].error or "")
    assert results[2].status == "rejected" and "text" in (results[2].error or "")
    assert results[2].run_id is None and results[3].answer == {"text": "ALSO FINE"}


async def test_skipped_ids_do_not_run_and_the_progress_counts_them() -> None:
    loud = Loud()
    seen: list[tuple[int, int, int | None, int]] = []

    def on_progress(p: BatchProgress) -> None:
        seen.append((p.done, p.failed, p.total, p.skipped))

    items = [BatchItem(id=f"T-{i}", inputs={"text": "boom" if i == 3 else f"t{i}"}, index=i) for i in range(6)]
    async with build(loud) as orch:
        results = await collect(orch, items, skip={"T-0", "T-1"}, on_progress=on_progress)

    assert sorted(r.id for r in results) == ["T-2", "T-3", "T-4", "T-5"]
    assert loud.calls == 4
    assert seen[-1] == (4, 1, 4, 2)
    assert [done for done, *_ in seen] == [0, 1, 2, 3, 4]


async def test_an_async_stream_of_items_runs_too() -> None:
    async def stream() -> Any:
        for i in range(5):
            yield {"text": f"s{i}"}

    progress: list[BatchProgress] = []
    async with build(Loud()) as orch:
        results = await collect(orch, stream(), concurrency=3, on_progress=progress.append)
    assert sorted(r.answer["text"] for r in results) == ["S0", "S1", "S2", "S3", "S4"]
    assert progress[-1].total is None and progress[-1].eta is None and progress[-1].rate > 0
    assert progress[-1].line().startswith("5/? items")


async def test_leaving_the_loop_early_cancels_the_runs_in_flight() -> None:
    loud = Loud(delay=0.05)
    async with build(loud) as orch:
        batch = orch.run_many("echo", [{"text": f"t{i}"} for i in range(100)], concurrency=4)
        async for _ in batch:
            break
        await batch.aclose()  # type: ignore[attr-defined]
        assert loud.in_flight == 0
        await asyncio.sleep(0.1)
    assert loud.calls < 10  # nobody went on with the other 96


async def test_concurrency_must_be_positive() -> None:
    async with build(Loud()) as orch:
        with pytest.raises(UserError, match="concurrency"):
            await collect(orch, [{"text": "x"}], concurrency=0)


def test_progress_line_has_rate_eta_failures_cost_and_saving() -> None:
    progress = BatchProgress(total=100, done=10, failed=2, cost_usd=0.5, saving_usd=1.25)
    progress.started -= 5
    line = progress.line()
    assert line.startswith("10/100 items  2.0/s  eta 45s  2 failed")
    assert "cost $0.5000" in line and "saved $1.2500" in line


async def test_a_long_batch_keeps_no_checkpoint_per_finished_run_but_chosen_ids_keep_theirs() -> None:
    async with build(Loud(delay=0)) as orch:
        results = await collect(orch, [{"text": f"ticket {i}"} for i in range(30)], concurrency=8)
        chosen = await orch.run("echo", {"text": "mine"}, run_id="chosen-id")
        executor = await orch._ensure()
        saver = executor.checkpointer
        assert isinstance(saver, InMemorySaver)
        kept = set(saver.storage)
        again = await orch.run("echo", {"text": "other text"}, run_id="chosen-id")

    assert all(r.ok for r in results) and chosen.ok
    assert kept == {"chosen-id"}  # the batch's runs (ids made here) left nothing behind
    assert again.answer == chosen.answer  # a chosen id still hands back its stored result
