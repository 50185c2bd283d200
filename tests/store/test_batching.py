"""Coalescer: calls of one event-loop turn become one batch; failures reach every caller."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.redis.batching import Coalescer


class Recorder:
    """A batch function that records its batches and answers each item doubled."""

    def __init__(self, *, fail: bool = False, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.delay = delay

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise ConnectionError("backend down")
        return [2 * i for i in items]


async def test_calls_of_one_turn_share_a_batch_and_get_their_own_result() -> None:
    run = Recorder()
    double = Coalescer(run)
    assert await asyncio.gather(*(double(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert run.batches == [[0, 1, 2, 3, 4]]
    assert await double(7) == 14  # alone: a batch of one
    assert run.batches[-1] == [7]


async def test_batches_are_capped() -> None:
    run = Recorder()
    double = Coalescer(run, max_batch=2)
    assert await asyncio.gather(*(double(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert run.batches == [[0, 1], [2, 3], [4]]


async def test_a_failed_batch_fails_each_caller() -> None:
    double = Coalescer(Recorder(fail=True))
    outcomes = await asyncio.gather(*(double(i) for i in range(3)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError] * 3


async def test_a_caller_that_stops_waiting_does_not_stop_the_batch() -> None:
    run = Recorder(delay=0.05)
    double = Coalescer(run)
    impatient = asyncio.create_task(double(1))
    patient = asyncio.create_task(double(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == 4
    with pytest.raises(asyncio.CancelledError):
        await impatient
    await double.aclose()
    assert run.batches == [[1, 2]]


async def test_aclose_in_the_same_turn_sends_the_calls_already_made() -> None:
    """A caller submits and the owner closes before the loop turns: the call still goes out before
    the close returns (and so before the owner closes its client)."""
    run = Recorder()
    double = Coalescer(run)
    call = asyncio.ensure_future(double(21))
    await asyncio.sleep(0)  # the call has joined the pending batch; its flush is not yet run
    await double.aclose()
    assert run.batches == [[21]]
    assert await call == 42
