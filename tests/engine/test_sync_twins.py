"""The blocking twins of the Orchestrator: run_sync, stream_sync, plan_sync, close; also inside a running loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from orchestrator.errors import UnknownNameError
from tests.interfaces.app import build


def test_run_sync_and_stream_sync_in_a_script() -> None:
    with build(redis_url=None) as orch:
        result = orch.run_sync("echo", {"text": "hi"})
        assert result.status == "completed" and result.answer == {"text": "HI"}
        events = [event.type for event in orch.stream_sync("echo", {"text": "again"})]
        assert events[0] == "run.started" and events[-1] == "run.finished"
        assert "step.finished" in events
        plan = orch.plan_sync("say hello")
        assert [step.agent for step in plan.steps] == ["echo"]
        with pytest.raises(UnknownNameError):
            orch.run_sync("no_such_flow", {"text": "x"})  # errors come through as they are
    assert not [t for t in threading.enumerate() if t.name == "orchestrator-sync"]  # close stopped the thread


async def test_run_sync_works_inside_a_running_loop_as_in_jupyter() -> None:
    orch = build(redis_url=None)
    try:
        result = orch.run_sync("echo", {"text": "in a notebook"})  # a cell's loop is running here
        assert result.answer == {"text": "IN A NOTEBOOK"}
        assert asyncio.get_running_loop().is_running()
    finally:
        orch.close()


def test_leaving_stream_sync_early_closes_the_stream_and_the_loop_stays_usable() -> None:
    with build(redis_url=None) as orch:
        stream = orch.stream_sync("slow_echo", {"text": "x"})
        first = next(iter(stream))
        assert first.type == "run.started"
        stream.close()  # type: ignore[attr-defined]  # Orchestrator.stream's finally cancels its run
        assert orch.run_sync("echo", {"text": "ok"}).answer == {"text": "OK"}
