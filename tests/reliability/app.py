"""A worker app for reliability tests: the real Orchestrator, a workflow of counted steps.

``make_orchestrator`` is the ``--app`` factory for ``orchestrator worker`` subprocesses: an
:class:`~orchestrator.app.Orchestrator` on the worker's Redis (store and checkpointer), whose
registry holds one tool, ``count``, and one workflow, ``counted``: a chain of ``STEPS`` steps.
Each execution of a step INCRs ``<prefix>:test:started:<token>:<step>`` when it begins and
``...:finished:...`` when it ends, so a test can prove which steps ran more than once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from orchestrator.app import Orchestrator
from orchestrator.keys import KeySpace
from orchestrator.registry import Registry
from orchestrator.specialist import Tool
from orchestrator.workflow import Input, Workflow

STEPS = 4


class CountIn(BaseModel):
    token: str
    step: str
    delay: float = 0.0
    after: Any = None


class CountOut(BaseModel):
    n: int


class Count(Tool[CountIn, CountOut]):
    """Counts its own executions in Redis, then sleeps ``delay``."""

    name = "count"
    description = "Counts executions of a step."
    Input = CountIn
    Output = CountOut

    def __init__(self, client: aioredis.Redis, keys: KeySpace) -> None:
        self.client = client
        self.keys = keys

    async def run(self, request: CountIn) -> CountOut:
        n = await self.client.incr(counter_key(self.keys, "started", request.token, request.step))
        await asyncio.sleep(request.delay)
        await self.client.incr(counter_key(self.keys, "finished", request.token, request.step))
        return CountOut(n=int(n))


def counter_key(keys: KeySpace, kind: str, token: str, step: str) -> str:
    return keys.key("test", kind, token, step)


def counted_workflow() -> Workflow:
    wf = Workflow("counted", "A chain of counted steps.",
                  inputs={"token": Input(str), "delay": Input(float, required=False, default=0.05)})
    previous = None
    for i in range(STEPS):
        previous = wf.step(f"s{i}", "count", token=wf.input.token, step=f"s{i}", delay=wf.input.delay,
                           after=previous.n if previous is not None else None)
    assert previous is not None
    wf.output(n=previous.n)
    return wf


def make_orchestrator(settings: Any) -> Orchestrator:
    """The ``--app`` factory (``tests.reliability.app:make_orchestrator``)."""
    registry = Registry()
    registry.add(Count(aioredis.Redis.from_url(settings.redis_url), settings.keyspace))
    registry.add_workflow(counted_workflow())
    return Orchestrator(settings, registry=registry)
