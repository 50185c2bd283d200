"""The executor: eager dispatch, resume without re-running, failures, timeouts, events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver

from orchestrator.engine.executor import Executor, ExecutorSettings, RunSpec
from orchestrator.engine.router import Router
from orchestrator.events import Collector
from orchestrator.models import ScriptedModel
from orchestrator.models.pool import ModelPool
from orchestrator.plan import Plan
from orchestrator.types import Sensitivity
from tests.engine.agents import make_registry


def make_executor(model: Any = None, *, checkpointer: BaseCheckpointSaver[Any] | None = None,
                  **settings: Any) -> tuple[Executor, Any]:
    registry, sleep = make_registry()
    pool = ModelPool({}, {"m": model or ScriptedModel()})
    executor = Executor(registry, Router(pool, default_cascade=["m"]), checkpointer=checkpointer,
                        settings=ExecutorSettings(**settings))
    return executor, sleep


def spec(run_id: str = "r1", **inputs: Any) -> RunSpec:
    return RunSpec(run_id=run_id, inputs=inputs, sensitivity={k: Sensitivity.PUBLIC for k in inputs},
                   sink=Collector())


def plan(*steps: dict[str, Any], output: dict[str, Any] | None = None) -> Plan:
    return Plan.parse({"goal": "test", "steps": list(steps), "output": output or {}})


async def test_fast_branch_does_not_wait_for_slow_sibling() -> None:
    executor, _ = make_executor()
    p = plan(
        {"id": "fast", "agent": "sleep", "params": {"delay": 0.01, "value": 1}},
        {"id": "after_fast", "agent": "sleep", "inputs": {"value": "$steps.fast.value"}, "params": {"delay": 0.01}},
        {"id": "slow", "agent": "sleep", "params": {"delay": 0.5, "value": 2}},
    )
    result = await executor.execute(spec(), p)
    assert result.status == "completed"
    slow = result.step("slow").output
    after_fast = result.step("after_fast").output
    assert after_fast["value"] == 1
    # after_fast finished while slow was still running: no level-by-level waves.
    assert after_fast["finished"] < slow["finished"] - 0.2


async def test_parallel_steps_run_concurrently() -> None:
    executor, _ = make_executor()
    p = plan(*({"id": f"s{i}", "agent": "sleep", "params": {"delay": 0.3}} for i in range(4)))
    result = await executor.execute(spec(), p)
    starts = [result.step(f"s{i}").output["started"] for i in range(4)]
    finishes = [result.step(f"s{i}").output["finished"] for i in range(4)]
    assert max(starts) < min(finishes)  # all four were in flight together


async def test_references_resolve_inputs_and_step_fields() -> None:
    model = ScriptedModel([{"text": "HELLO"}])
    executor, _ = make_executor(model)
    p = plan(
        {"id": "shout", "agent": "echo", "inputs": {"text": "$input.greeting.text"}},
        {"id": "keep", "agent": "sleep", "inputs": {"value": "$steps.shout.text"}},
        output={"loud": "$steps.keep.value", "original": "$input.greeting.text"},
    )
    result = await executor.execute(spec(greeting={"text": "hello"}), p)
    assert result.answer == {"loud": "HELLO", "original": "hello"}
    assert model.calls[0].last_user == "hello"
    model.assert_complete()


async def test_failed_step_skips_dependants_and_records_reason() -> None:
    executor, _ = make_executor()
    p = plan(
        {"id": "bad", "agent": "sleep", "params": {"fail": True}},
        {"id": "child", "agent": "sleep", "inputs": {"value": "$steps.bad.value"}},
        {"id": "other", "agent": "sleep", "params": {"value": 3}},
    )
    result = await executor.execute(spec(), p)
    assert result.status == "failed"
    assert result.step("bad").status == "failed"
    assert "asked to fail" in (result.step("bad").error or "")
    assert result.step("child").status == "skipped"
    assert result.step("other").status == "completed"
    assert "bad" in (result.error or "")


async def test_step_timeout_fails_the_step() -> None:
    executor, _ = make_executor(step_timeout=0.05)
    result = await executor.execute(spec(), plan({"id": "slow", "agent": "sleep", "params": {"delay": 1}}))
    assert result.step("slow").status == "failed"
    assert "timed out" in (result.step("slow").error or "")


async def test_invalid_step_input_is_a_clear_failure() -> None:
    executor, _ = make_executor()
    result = await executor.execute(spec(), plan({"id": "s", "agent": "sleep", "params": {"delay": "soon"}}))
    assert result.step("s").status == "failed"
    assert "invalid input for sleep" in (result.step("s").error or "")


async def test_resume_does_not_rerun_completed_steps() -> None:
    model = ScriptedModel([{"text": "one"}, {"text": "two"}])
    executor, sleep = make_executor(model)
    p = plan(
        {"id": "first", "agent": "echo", "inputs": {"text": "a"}},
        {"id": "second", "agent": "echo", "inputs": {"text": "$steps.first.text"}},
        {"id": "slow", "agent": "sleep", "inputs": {"value": "$steps.second.text"}, "params": {"delay": 0.3}},
    )
    run = asyncio.create_task(executor.execute(spec("resumable"), p))
    for _ in range(200):  # bounded wait until the slow step is running
        if sleep.calls:
            break
        await asyncio.sleep(0.01)
    run.cancel()  # the process "dies" mid-run
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(model.calls) == 2
    # Resume: same run id. The plan itself comes back from the checkpoint, so any plan may be passed.
    result = await executor.execute(spec("resumable"), plan({"id": "other", "agent": "sleep"}))
    assert result.status == "completed"
    assert [s.step_id for s in result.steps] == ["first", "second", "slow"]
    assert len(model.calls) == 2  # first and second came from the checkpoint
    assert result.step("slow").output["value"] == "two"
    assert sleep.calls == ["two", "two"]  # only the interrupted step ran again


async def test_a_finished_run_is_not_run_again(checkpointer: BaseCheckpointSaver[Any]) -> None:
    """A crash after the final checkpoint but before the caller recorded the run: the rerun pays nothing."""
    model = ScriptedModel([{"text": "one"}])  # a second model call would find no reply and fail the step
    executor, sleep = make_executor(model, checkpointer=checkpointer)
    p = plan({"id": "say", "agent": "echo", "inputs": {"text": "a"}},
             {"id": "keep", "agent": "sleep", "inputs": {"value": "$steps.say.text"}})
    first = await executor.execute(spec("finished"), p)
    assert first.status == "completed"
    # Another process picks the job up again: a new executor over the same checkpoints.
    again, again_sleep = make_executor(model, checkpointer=checkpointer)
    repeat = spec("finished")
    second = await again.execute(repeat, plan({"id": "other", "agent": "sleep"}))
    assert len(model.calls) == 1 and sleep.calls == ["one"] and again_sleep.calls == []
    assert second.status == "completed" and second.answer == first.answer == {"keep": first.step("keep").output}
    assert [s.model_dump() for s in second.steps] == [s.model_dump() for s in first.steps]
    assert repeat.sink.events == []  # type: ignore[attr-defined]  # nothing ran, so nothing to report


async def test_events_cover_the_run() -> None:
    executor, _ = make_executor()
    s = spec()
    await executor.execute(s, plan({"id": "a", "agent": "sleep"},
                                   {"id": "b", "agent": "sleep", "params": {"fail": True}}))
    kinds = s.sink.types()  # type: ignore[attr-defined]
    assert kinds[0] == "run.started"
    assert kinds[1] == "plan.ready"
    assert {"step.started", "step.finished", "step.failed"} <= set(kinds)
    assert {"run.finished", "run.failed"}.isdisjoint(kinds)  # the end is the caller's (orchestrator.events)
    assert all(e.run_id == "r1" for e in s.sink.events)  # type: ignore[attr-defined]


async def test_unknown_agent_in_plan_fails_run_clearly() -> None:
    executor, _ = make_executor()
    result = await executor.execute(spec(), plan({"id": "a", "agent": "nope"}))
    assert result.status == "failed"
    assert "unknown agent 'nope'" in (result.error or "")


async def test_replan_after_failure_runs_the_new_plan() -> None:
    executor, _ = make_executor()
    first = plan({"id": "a", "agent": "sleep", "params": {"fail": True}})
    second = plan({"id": "b", "agent": "sleep", "params": {"value": "recovered"}})
    seen: list[Any] = []

    async def replan(previous: Plan, results: list[Any]) -> Plan:
        seen.append([r.status for r in results])
        return second

    s = spec()
    s.replan = replan
    result = await executor.execute(s, first)
    assert seen == [["failed"]]
    assert result.replanned
    assert result.status == "completed"
    assert result.answer == {"b": result.step("b").output}


async def test_two_executors_running_at_once_each_run_their_own_steps() -> None:
    # The step tasks are module-level functions shared by every executor: each finds its own.
    from langgraph.checkpoint.memory import InMemorySaver

    first, second = (make_executor(checkpointer=InMemorySaver())[0] for _ in range(2))
    p = plan({"id": "a", "agent": "sleep", "params": {"delay": 0.05, "value": 1}},
             {"id": "b", "agent": "sleep", "inputs": {"value": "$steps.a.value"}, "params": {"delay": 0.05}})
    results = await asyncio.gather(*(executor.execute(spec(f"run-{n}"), p)
                                     for n in range(3) for executor in (first, second)))
    assert all(r.status == "completed" and r.step("b").output["value"] == 1 for r in results)
    for executor in (first, second):
        assert isinstance(executor.checkpointer, InMemorySaver)
        assert set(executor.checkpointer.storage) == {"run-0", "run-1", "run-2"}  # its own runs, no other's


async def test_a_fresh_run_that_raises_leaves_no_checkpoint_in_the_executors_own_saver() -> None:
    """Its id was made here: nothing can resume it, so an error (a planner failing, a cancelled run)
    must not keep its checkpoint for good (before: only a run that returned dropped it)."""
    from langgraph.checkpoint.memory import InMemorySaver

    executor, _ = make_executor()

    async def no_plan() -> Plan:
        raise RuntimeError("the planner failed")

    doomed = spec("fresh-and-failing")
    doomed.fresh, doomed.make_plan = True, no_plan
    with pytest.raises(RuntimeError, match="the planner failed"):
        await executor.execute(doomed)
    fine = spec("fresh-and-fine")
    fine.fresh = True
    assert (await executor.execute(fine, plan({"id": "a", "agent": "sleep", "params": {"value": 1}}))).ok
    assert isinstance(executor.checkpointer, InMemorySaver)
    assert set(executor.checkpointer.storage) == set()


async def test_a_fresh_run_on_the_executors_own_saver_calls_its_steps_without_langgraph_tasks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing can read back its tasks' results (checkpointed only at its end, then dropped), so it
    skips them; a run of a given id, which may be resumed, still runs every step as a task."""
    from orchestrator.engine import executor as module

    def no_task(*args: Any) -> Any:
        raise AssertionError("a LangGraph task was called")

    executor, _ = make_executor()
    p = plan({"id": "a", "agent": "sleep", "params": {"value": 1}},
             {"id": "each", "agent": "sleep", "for_each": "$input.values", "inputs": {"value": "$item"}},
             {"id": "b", "agent": "sleep", "inputs": {"value": "$steps.a.value"}})
    given = spec("given", values=[1, 2, 3])
    expected = await executor.execute(given, p)
    monkeypatch.setattr(module, "_plan_task", no_task)
    monkeypatch.setattr(module, "_step_task", no_task)
    monkeypatch.setattr(module, "_item_task", no_task)
    fresh = spec("fresh", values=[1, 2, 3])
    fresh.fresh = True
    result = await executor.execute(fresh, p)
    assert result.ok and expected.ok
    assert [s.output["value"] if s.step_id != "each" else [o["value"] for o in s.output] for s in result.steps] \
        == [1, [1, 2, 3], 1]
    assert [e.type for e in fresh.sink.events] == [e.type for e in given.sink.events]  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="a LangGraph task was called"):
        await executor.execute(spec("given-again"), p)


async def test_a_run_nobody_follows_builds_no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.engine import executor as module
    from orchestrator.events import FanOut, silent

    assert silent(FanOut([])) and not silent(FanOut([Collector()])) and not silent(Collector())
    built: list[Any] = []

    def step_event(result: Any) -> dict[str, Any]:
        built.append(result)
        return {}

    monkeypatch.setattr(module, "step_event", step_event)
    unheard = spec("unheard")
    unheard.sink = FanOut([])
    assert (await make_executor()[0].execute(unheard, plan({"id": "a", "agent": "sleep", "params": {"value": 1}}))).ok
    assert built == []
    heard = spec("heard")
    assert (await make_executor()[0].execute(heard, plan({"id": "a", "agent": "sleep", "params": {"value": 1}}))).ok
    assert len(built) == 1
