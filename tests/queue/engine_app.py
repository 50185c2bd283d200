"""The real engine behind queue workers: an Orchestrator whose steps count their executions.

``make_orchestrator`` is a worker ``--app`` factory: an :class:`~orchestrator.engine.app.Orchestrator`
on the worker's Redis and key prefix (so runs are checkpointed by ``RedisCheckpointer`` and
recorded in ``RedisStore``), with one tool, ``count``, one specialist, ``relay`` (on a
:class:`~orchestrator.models.FunctionModel`), and one workflow, ``counted``: four steps in a
row, ``count``, ``relay``, ``count``, ``relay``. Each execution of a step (a tool run, or a
model call of the specialist) adds an id of its own to the set ``<prefix>:test:calls:<run>:<step>``
when it starts (:func:`executions` counts them) and records its finish time in the hash
``<prefix>:test:done:<run>`` when it ends, so a test can tell which steps completed before a
crash and whether any ran (or called its model) again. The counters live in Redis, so they
survive a worker that is killed; both writes are idempotent and retried through Redis errors
(a lossy link), so the counting never fails a step nor counts one execution twice.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel
from redis.exceptions import RedisError

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.keys import KeySpace
from orchestrator.models import FunctionModel
from orchestrator.models.base import Capabilities, Message, user
from orchestrator.models.scripted import ModelCall
from orchestrator.redis.connection import connect
from orchestrator.settings import Settings
from orchestrator.specialist import Specialist, SpecialistConfig, Tool
from orchestrator.workflow import Input, Workflow

STEPS = ("s0", "s1", "s2", "s3")
MODEL_STEPS = ("s1", "s3")
"""The steps run by the ``relay`` specialist: each execution is one call of its model."""


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
        return CountOut(value=await _counted(self.client, self.keys, request.value, request.delay))


async def executions(client: aioredis.Redis, keys: KeySpace, run_id: str, step: str) -> int:
    """How many times ``step`` of ``run_id`` started."""
    return int(await client.scard(calls_key(keys, run_id, step)))


async def _counted(client: aioredis.Redis, keys: KeySpace, value: Any, delay: float) -> Any:
    """One counted execution of the current step (run and step ids from the executor's log context)."""
    context = structlog.contextvars.get_contextvars()
    run_id, step = context["run_id"], context["step_id"]
    await _idempotent(lambda: client.sadd(calls_key(keys, run_id, step), uuid.uuid4().hex))
    await asyncio.sleep(delay)
    finished = repr(time.time())
    await _idempotent(lambda: client.hset(done_key(keys, run_id), step, finished))
    return value


_TRIES = 20


async def _idempotent(write: Callable[[], Awaitable[Any]]) -> None:
    """``write`` (idempotent), sent again after a Redis error (up to :data:`_TRIES` times in all)."""
    for _ in range(_TRIES - 1):
        try:
            await write()
            return
        except (RedisError, OSError):
            await asyncio.sleep(0.2)
    await write()


class Relay(Specialist[CountIn, CountOut]):
    """Hands its value to its model, which answers it back (see :func:`counting_model`)."""

    name = "relay"
    description = "Passes its value through a model."
    Input = CountIn
    Output = CountOut

    def prompt(self, request: CountIn, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [user(json.dumps({"value": request.value, "delay": request.delay}))]


def counting_model(client: aioredis.Redis, keys: KeySpace) -> FunctionModel:
    """A model that counts each call as an execution of its step, waits, and answers the value."""

    async def reply(call: ModelCall) -> dict[str, Any]:
        request = json.loads(call.last_user)
        return {"value": await _counted(client, keys, request["value"], request["delay"])}

    return FunctionModel(reply, ref="function:counter")


def counted_workflow() -> Workflow:
    wf = Workflow("counted", "Four counted steps in a row, two of them model calls",
                  inputs={"tag": Input(int), "delay": Input(float, required=False, default=0.0)})
    previous = wf.input.tag
    for step in STEPS:
        agent = "relay" if step in MODEL_STEPS else "count"
        previous = wf.step(step, agent, value=previous, delay=wf.input.delay).value
    wf.output(tag=previous)
    return wf


class CountingOrchestrator(Orchestrator):
    """An Orchestrator that also closes the counting tool's client."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url, "the counting engine needs Redis"
        self.counter_client = connect(settings.redis_url)
        registry = Registry()
        registry.add(Count(self.counter_client, settings.keyspace))
        registry.add(Relay(SpecialistConfig(cascade=["counter"])))
        registry.add_workflow(counted_workflow())
        models = {"counter": counting_model(self.counter_client, settings.keyspace)}
        super().__init__(settings, registry=registry, models=models)

    async def aclose(self) -> None:
        await super().aclose()
        await self.counter_client.aclose()


def make_orchestrator(settings: Settings) -> CountingOrchestrator:
    """The ``--app`` factory."""
    return CountingOrchestrator(settings)
