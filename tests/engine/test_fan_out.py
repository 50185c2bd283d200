"""Fan-out (``for_each``): items run concurrently, in order, bounded, durable, and fail clearly."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from orchestrator.models import FunctionModel, ModelCall
from tests.engine.test_executor import make_executor, plan, spec


def echo_over(items: str = "$input.words") -> dict[str, Any]:
    return {"id": "loud", "agent": "echo", "for_each": items, "inputs": {"text": "$item"}}


async def test_items_run_concurrently_and_keep_their_order() -> None:
    log: list[tuple[str, str]] = []
    last_done = asyncio.Event()

    async def answer(call: ModelCall) -> dict[str, Any]:
        word = call.last_user
        log.append(("start", word))
        if word == "first":  # finishes only after the last item did: impossible one item at a time
            async with asyncio.timeout(5):
                await last_done.wait()
        else:
            await asyncio.sleep(0)
        log.append(("end", word))
        if word == "last":
            last_done.set()
        return {"text": word.upper()}

    executor, _ = make_executor(FunctionModel(answer))
    p = plan(echo_over(), output={"loud": "$steps.loud.*.text", "second": "$steps.loud.1.text"})
    result = await executor.execute(spec(words=["first", "middle", "last"]), p)
    assert result.status == "completed", result.error
    assert log.index(("start", "last")) < log.index(("end", "first"))
    assert [w for kind, w in log if kind == "end"][-1] == "first"
    # Collected in item order, not in the order the items finished.
    assert result.answer == {"loud": ["FIRST", "MIDDLE", "LAST"], "second": "MIDDLE"}
    assert result.step("loud").output == [{"text": "FIRST", "confidence": 1.0}, {"text": "MIDDLE", "confidence": 1.0},
                                          {"text": "LAST", "confidence": 1.0}]


async def test_items_share_the_runs_concurrency_limit() -> None:
    in_flight, peak = 0, 0

    async def answer(call: ModelCall) -> dict[str, Any]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return {"text": call.last_user}

    model = FunctionModel(answer)
    executor, _ = make_executor(model, max_parallel_steps=2)  # one slot would deadlock if the step held one
    result = await executor.execute(spec(words=list("abcde")), plan(echo_over()))
    assert result.status == "completed", result.error
    assert len(model.calls) == 5
    assert peak == 2


async def test_the_step_aggregates_its_items() -> None:
    executor, _ = make_executor(FunctionModel(lambda call: {"text": call.last_user, "confidence": 0.8}))
    result = await executor.execute(spec(words=["a", "b"]), plan(echo_over()))
    step = result.step("loud")
    assert step.status == "completed" and step.model == "function:model" and step.confidence == 0.8
    assert len(step.attempts) == 2
    assert step.usage.total_tokens == sum(a.usage.total_tokens for a in step.attempts) > 0


async def test_an_item_failure_fails_the_step_with_its_reason() -> None:
    executor, sleep = make_executor()
    p = plan({"id": "waits", "agent": "sleep", "for_each": "$input.flags", "inputs": {"fail": "$item", "value": 1}},
             {"id": "after", "agent": "sleep", "inputs": {"value": "$steps.waits"}})
    result = await executor.execute(spec(flags=[False, True, False]), p)
    waits = result.step("waits")
    assert waits.status == "failed" and waits.output is None
    assert waits.error == "1 of 3 items failed; item 1 (from 0): sleep raised ValueError: asked to fail"
    assert result.step("after").status == "skipped"
    assert len(sleep.calls) == 3  # the other items still ran and were recorded
    assert result.status == "failed" and "waits: 1 of 3 items failed" in (result.error or "")


async def test_for_each_that_is_not_a_list_fails_the_step() -> None:
    executor, _ = make_executor()
    result = await executor.execute(spec(words="not a list"), plan(echo_over()))
    assert result.step("loud").error == "for_each '$input.words' is a str, not a list"
    missing = await executor.execute(spec("r2", words={"a": 1}), plan(echo_over("$input.words.items")))
    assert missing.step("loud").error == "for_each '$input.words.items': $input.words has no field 'items'"


async def test_a_list_longer_than_max_items_fails_the_step_before_any_item_runs() -> None:
    model = FunctionModel(lambda call: {"text": "never"})
    executor, _ = make_executor(model, max_items=3)
    result = await executor.execute(spec(words=["a", "b", "c", "d"]), plan(echo_over()))
    assert result.step("loud").error == ("for_each '$input.words' has 4 items, more than executor.max_items (3); "
                                         "use larger chunks or raise the limit")
    assert model.calls == []


async def test_an_empty_list_completes_with_no_items() -> None:
    model = FunctionModel(lambda call: {"text": "never"})
    executor, _ = make_executor(model)
    result = await executor.execute(spec(words=[]), plan(echo_over()))
    assert result.step("loud").status == "completed" and result.step("loud").output == []
    assert model.calls == []


async def test_a_resumed_fan_out_keeps_the_items_that_finished(checkpointer: BaseCheckpointSaver[Any]) -> None:
    hang = asyncio.Event()  # set: the "slow" item blocks until the run is cancelled

    async def answer(call: ModelCall) -> dict[str, Any]:
        if call.last_user == "slow" and not hang.is_set():
            await asyncio.Event().wait()
        return {"text": call.last_user.upper()}

    model = FunctionModel(answer)
    executor, _ = make_executor(model, checkpointer=checkpointer)
    p = plan(echo_over(), output={"loud": "$steps.loud.*.text"})
    words = ["quick", "slow", "brisk"]
    run = asyncio.create_task(executor.execute(spec("fan", words=words), p))
    for _ in range(300):  # bounded wait: every item called, the quick ones done and checkpointed
        if len(model.calls) == 3:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    run.cancel()  # the process "dies" while one item is in flight
    await asyncio.gather(run, return_exceptions=True)
    hang.set()
    result = await executor.execute(spec("fan", words=words), p)
    assert result.answer == {"loud": ["QUICK", "SLOW", "BRISK"]}
    assert [c.last_user for c in model.calls] == ["quick", "slow", "brisk", "slow"]  # only the unfinished one reran
