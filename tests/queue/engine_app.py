"""The real engine behind queue workers: an Orchestrator whose steps count their executions.

``make_orchestrator`` is a worker ``--app`` factory: an :class:`~orchestrator.app.Orchestrator`
on the worker's Redis and key prefix (so runs are checkpointed by ``RedisCheckpointer`` and
recorded in ``RedisStore``), with one tool, ``count``, and one workflow, ``counted``: four
``count`` steps in a row. Each execution of a step INCRs ``<prefix>:test:calls:<run>:<step>``
when it starts and records its finish time in the hash ``<prefix>:test:done:<run>`` when it
ends, so a test can tell which steps completed before a crash and whether any ran again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel

from orchestrator.app import Orchestrator
from orchestrator.keys import KeySpace
from orchestrator.registry import Registry
from orchestrator.settings import Settings
from orchestrator.specialist import Tool
from orchestrator.workflow import Input, Workflow

STEPS = ("s0", "s1", "s2", "s3")


def calls_key(keys: KeySpace, run_id: str, step: str) -> str:
    return keys.key("test", "calls", run_id, step)


def done_key(keys: KeySpace, run_id: str) -> str:
    return keys.key("test", "done", run_id)


class CountIn(BaseModel):
    value: Any = None
    delay: float = 0.0


class CountOut(BaseModel):
    value: Any = None


class Count(Tool[CountIn, CountOut]):
    """Counts each execution of its step (run and step ids from the executor's log context)."""

    name = "count"
    description = "Counts its executions in Redis, waits, returns its value."
    Input = CountIn
    Output = CountOut

    def __init__(self, client: aioredis.Redis, keys: KeySpace) -> None:
        self.client = client
        self.keys = keys

    async def run(self, request: CountIn) -> CountOut:
        context = structlog.contextvars.get_contextvars()
        run_id, step = context["run_id"], context["step_id"]
        await self.client.incr(calls_key(self.keys, run_id, step))
        await asyncio.sleep(request.delay)
        await self.client.hset(done_key(self.keys, run_id), step, repr(time.time()))
        return CountOut(value=request.value)


def counted_workflow() -> Workflow:
    wf = Workflow("counted", "Four counted steps in a row",
                  inputs={"tag": Input(int), "delay": Input(float, required=False, default=0.0)})
    previous = wf.input.tag
    for step in STEPS:
        previous = wf.step(step, "count", value=previous, delay=wf.input.delay).value
    wf.output(tag=previous)
    return wf


class CountingOrchestrator(Orchestrator):
    """An Orchestrator that also closes the counting tool's client."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "the counting engine needs Redis"
        self.counter_client = aioredis.Redis.from_url(settings.redis_url)
        registry = Registry()
        registry.add(Count(self.counter_client, settings.keyspace))
        registry.add_workflow(counted_workflow())
        super().__init__(settings, registry=registry, models={})

    async def aclose(self) -> None:
        await super().aclose()
        await self.counter_client.aclose()


def make_orchestrator(settings: Settings) -> CountingOrchestrator:
    """The ``--app`` factory."""
    return CountingOrchestrator(settings)
