"""A worker app for reliability tests: the real Orchestrator, a workflow of counted steps.

``make_orchestrator`` is the ``--app`` factory for ``orchestrator worker`` subprocesses: an
:class:`~orchestrator.engine.app.Orchestrator` on the worker's Redis (store and checkpointer), whose
registry holds one tool, ``count``, one specialist, ``tally`` (on a
:class:`~orchestrator.models.FunctionModel`), and one workflow, ``counted``: a chain of
``STEPS`` steps, every other one (``MODEL_STEPS``) a model call. Each execution of a step (a
tool run or a model call) INCRs ``<prefix>:test:started:<token>:<step>`` when it begins and
``...:finished:...`` when it ends, and appends its start and end times to the lists
``...:started_at:...`` and ``...:finished_at:...``, so a test can prove which steps ran, or
called their model, more than once and when, even across killed workers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.keys import KeySpace
from orchestrator.models import FunctionModel
from orchestrator.models.base import Capabilities, Message, user
from orchestrator.models.scripted import ModelCall
from orchestrator.specialist import Specialist, SpecialistConfig, Tool
from orchestrator.workflow import Input, Workflow

STEPS = 4
MODEL_STEPS = ("s1", "s3")
"""Steps run by the ``tally`` specialist: each execution is one call of its model."""


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
        return CountOut(n=await _count(self.client, self.keys, request))


async def _count(client: aioredis.Redis, keys: KeySpace, request: CountIn) -> int:
    """One counted execution of ``request.step``: its start, a wait, its end."""
    n = await client.incr(counter_key(keys, "started", request.token, request.step))
    await client.rpush(counter_key(keys, "started_at", request.token, request.step), repr(time.time()))
    await asyncio.sleep(request.delay)
    await client.incr(counter_key(keys, "finished", request.token, request.step))
    await client.rpush(counter_key(keys, "finished_at", request.token, request.step), repr(time.time()))
    return int(n)


class Tally(Specialist[CountIn, CountOut]):
    """Asks its model to count the step (see :func:`tally_model`)."""

    name = "tally"
    description = "Counts executions of a step with a model."
    Input = CountIn
    Output = CountOut

    def prompt(self, request: CountIn, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [user(request.model_dump_json())]


def tally_model(client: aioredis.Redis, keys: KeySpace) -> FunctionModel:
    """A model whose every call is a counted execution of the step named in the prompt."""

    async def reply(call: ModelCall) -> dict[str, Any]:
        return {"n": await _count(client, keys, CountIn.model_validate(json.loads(call.last_user)))}

    return FunctionModel(reply, ref="function:tally")


def counter_key(keys: KeySpace, kind: str, token: str, step: str) -> str:
    return keys.key("test", kind, token, step)


def counted_workflow() -> Workflow:
    wf = Workflow("counted", "A chain of counted steps.",
                  inputs={"token": Input(str), "delay": Input(float, required=False, default=0.05)})
    previous = None
    for i in range(STEPS):
        agent = "tally" if f"s{i}" in MODEL_STEPS else "count"
        previous = wf.step(f"s{i}", agent, token=wf.input.token, step=f"s{i}", delay=wf.input.delay,
                           after=previous.n if previous is not None else None)
    assert previous is not None
    wf.output(n=previous.n)
    return wf


def make_orchestrator(settings: Any) -> Orchestrator:
    """The ``--app`` factory (``tests.reliability.app:make_orchestrator``)."""
    client = aioredis.Redis.from_url(settings.redis_url)
    registry = Registry()
    registry.add(Count(client, settings.keyspace))
    registry.add(Tally(SpecialistConfig(cascade=["tally"])))
    registry.add_workflow(counted_workflow())
    return Orchestrator(settings, registry=registry, models={"tally": tally_model(client, settings.keyspace)})
