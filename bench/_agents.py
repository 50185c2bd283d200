"""No-op agents for benchmarks: a tool and a specialist whose model answers instantly."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.registry import Registry
from orchestrator.models.base import Capabilities, Message, system, user
from orchestrator.models.scripted import FunctionModel, ModelCall
from orchestrator.specialist import Specialist, Tool


class Value(BaseModel):
    value: Any = None


class Noop(Tool[Value, Value]):
    """Returns its input."""

    name = "noop"
    description = "Returns its input."
    Input = Value
    Output = Value

    def run(self, request: Value) -> Value:
        return Value(value=request.value)


class NoopSpecialist(Specialist[Value, Value]):
    """Asks the model for ``{"value": ...}`` and validates the answer like any specialist."""

    name = "noop_model"
    description = "Asks a model to return its input."
    Input = Value
    Output = Value

    def prompt(self, request: Value, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [system(instruction or "Return the value."), user(str(request.value))]


def instant_model() -> FunctionModel:
    """A local model that answers ``{"value": 1}`` at once."""

    def reply(call: ModelCall) -> dict[str, Any]:
        return {"value": 1}

    return FunctionModel(reply, ref="function:instant")


def registry() -> Registry:
    found = Registry()
    found.add(Noop())
    found.add(NoopSpecialist())
    found.add(Wait())
    return found


class WaitIn(BaseModel):
    delay: float
    after: Any = None
    """Upstream outputs this step waits for (references only create the dependency)."""


class Wait(Specialist[WaitIn, Value]):
    """A model step that takes ``delay`` seconds of simulated model time."""

    name = "wait"
    description = "A model call of a given duration."
    Input = WaitIn
    Output = Value

    def prompt(self, request: WaitIn, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [user(json.dumps({"delay": request.delay}))]


def sleepy_model() -> FunctionModel:
    """A local model that sleeps for the ``delay`` in the prompt, then answers."""

    async def reply(call: ModelCall) -> dict[str, Any]:
        delay = float(json.loads(call.last_user)["delay"])
        await asyncio.sleep(delay)
        return {"value": delay}

    return FunctionModel(reply, ref="function:sleepy")
