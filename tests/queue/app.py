"""A job runner for queue tests: multi-step runs whose step executions are counted in Redis.

``StepRunner`` stands in for the executor with a checkpointer: each step's completion is
recorded in Redis, and a rerun under the same run id skips completed steps, like a
LangGraph resume. Every execution of a step INCRs ``<prefix>:test:calls:<run>:<step>``, so
tests can prove a step ran exactly once across worker crashes.

Targets: ``steps`` (inputs ``steps``, ``delay``), ``unknown`` (raises UnknownNameError),
``boom`` (raises RuntimeError every time), ``flaky`` (fails on its first attempt only).
Worker subprocesses load it with ``--app tests.queue.app:make_runner``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from orchestrator.errors import UnknownNameError
from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.redis.connection import connect
from orchestrator.types import Event, RunResult, Sensitivity, StepResult


class StepRunner:
    """A :class:`~orchestrator.queue.JobRunner` that runs ``inputs["steps"]`` sleeping steps."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace, *, owns_client: bool = False) -> None:
        self.client = client
        self.keys = keys
        self._owns_client = owns_client

    def calls_key(self, run_id: str, step: str) -> str:
        return self.keys.key("test", "calls", run_id, step)

    async def calls(self, run_id: str, step: str) -> int:
        """How many times ``step`` of ``run_id`` was executed."""
        return int(await self.client.get(self.calls_key(run_id, step)) or 0)

    async def finished(self, run_id: str) -> int:
        """How many times ``run_id`` ran to its end."""
        return int(await self.client.get(self.keys.key("test", "finished", run_id)) or 0)

    async def done_steps(self, run_id: str) -> set[str]:
        """The steps of ``run_id`` recorded as completed."""
        return {k.decode() for k in await self.client.hkeys(self.keys.key("test", "done", run_id))}

    async def run(
        self,
        target: str,
        inputs: Mapping[str, Any],
        *,
        run_id: str,
        sensitivity: Mapping[str, Sensitivity] | None = None,
        events: EventSink | None = None,
    ) -> RunResult:
        async def emit(kind: str, step: str | None = None) -> None:
            if events is not None:
                await events.emit(Event(type=kind, run_id=run_id, step_id=step))  # type: ignore[arg-type]

        attempts = await self.client.incr(self.keys.key("test", "attempts", run_id))
        if target == "unknown":
            raise UnknownNameError("workflow", target, ["steps"])
        if target == "boom":
            raise RuntimeError("boom")
        if target == "flaky" and attempts == 1:
            raise RuntimeError("transient failure")
        await emit("run.started")
        done_key = self.keys.key("test", "done", run_id)
        steps = []
        for i in range(int(inputs.get("steps", 1))):
            step = f"s{i}"
            if not await self.client.hexists(done_key, step):  # completed before a crash: skip
                await emit("step.started", step)
                await self.client.incr(self.calls_key(run_id, step))
                await asyncio.sleep(float(inputs.get("delay", 0)))
                await self.client.hset(done_key, step, "1")
                await emit("step.finished", step)
            steps.append(StepResult(step_id=step, agent="sleep", status="completed"))
        await emit("run.finished")
        await self.client.incr(self.keys.key("test", "finished", run_id))
        return RunResult(run_id=run_id, status="completed", answer=inputs.get("answer", len(steps)), steps=steps)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def make_runner(settings: Any) -> StepRunner:
    """The ``--app`` factory: a StepRunner on the worker's Redis and key prefix."""
    return StepRunner(connect(settings.redis_url), settings.keyspace, owns_client=True)
