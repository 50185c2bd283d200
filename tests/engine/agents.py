"""Small agents for engine tests: a model-backed echo specialist and a sleeping tool."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.engine.registry import Registry
from orchestrator.models.base import Capabilities, Message, system, user
from orchestrator.specialist import Specialist, Tool


class EchoIn(BaseModel):
    text: str = ""
    extra: Any = None


class EchoOut(BaseModel):
    text: str
    confidence: float = Field(default=1.0, ge=0, le=1)


class Echo(Specialist[EchoIn, EchoOut]):
    """Asks the model to answer ``{"text": ...}``; confidence comes from the answer."""

    name = "echo"
    description = "Rewrites text."
    Input = EchoIn
    Output = EchoOut

    def prompt(self, request: EchoIn, instruction: str, capabilities: Capabilities) -> list[Message]:
        return [system(instruction or "Echo the text."), user(request.text)]

    def check(self, request: EchoIn, completion: Any) -> Any:
        verdict = self.parse_output(completion)
        if verdict.output is not None:
            verdict.confidence = verdict.output.confidence  # type: ignore[attr-defined]
        return verdict


class SleepIn(BaseModel):
    delay: float = 0.0
    value: Any = None
    fail: bool = False


class SleepOut(BaseModel):
    value: Any = None
    started: float
    finished: float


class Sleep(Tool[SleepIn, SleepOut]):
    name = "sleep"
    description = "Waits, then returns its value."
    Input = SleepIn
    Output = SleepOut
    calls: list[Any]

    def __init__(self) -> None:
        self.calls = []

    async def run(self, request: SleepIn) -> SleepOut:
        started = time.perf_counter()
        self.calls.append(request.value)
        await asyncio.sleep(request.delay)
        if request.fail:
            raise ValueError("asked to fail")
        return SleepOut(value=request.value, started=started, finished=time.perf_counter())


def make_registry(echo: Echo | None = None) -> tuple[Registry, Sleep]:
    registry = Registry()
    registry.add(echo or Echo())
    sleep = Sleep()
    registry.add(sleep)
    return registry, sleep
