"""Models that hang, fail or answer garbage, and the Orchestrator that runs on them.

The workflow ``faulty`` has three steps: two model steps (the ``echo`` specialist on a cascade
small -> big, both :class:`FaultyModel`) and a tool. A :class:`FaultyModel` misbehaves on 30%
of its calls (seeded): it hangs past the step timeout, raises a retryable connection error or
a 5xx, answers non-JSON, answers JSON that breaks the output schema, or answers with too
little confidence. ``make_worker_app`` is the ``--app`` factory of worker processes running it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import ModelError
from orchestrator.models import FunctionModel, ModelSpec
from orchestrator.models.scripted import ModelCall, Reply
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.types import RunResult
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import Echo, EchoOut, make_registry

FAULT_RATE = 0.3
STEP_TIMEOUT = 0.2
FAULTS = ("hang", "connection", "server_error", "not_json", "schema_invalid", "low_confidence")
ATTEMPT_OUTCOMES = {"accepted", "invalid", "low_confidence", "error"}


class FaultyModel:
    """Decides each reply with a seeded random generator; counts what it did."""

    def __init__(self, ref: str, rng: random.Random) -> None:
        self.ref = ref
        self.rng = rng
        self.did: Counter[str] = Counter()

    async def __call__(self, call: ModelCall) -> Reply:
        fault = self.rng.choice(FAULTS) if self.rng.random() < FAULT_RATE else "ok"
        self.did[fault] += 1
        if fault == "hang":
            await asyncio.sleep(30)  # the executor's step timeout cancels this
        if fault == "connection":
            return ModelError(self.ref, "connection refused", retryable=True)
        if fault == "server_error":
            return ModelError(self.ref, "HTTP 503: upstream overloaded", retryable=True, status=503)
        if fault == "not_json":
            return "Sure! Here is the answer you asked for: {text: oops"
        if fault == "schema_invalid":
            return {"txt": call.last_user, "confidence": 7}
        if fault == "low_confidence":
            return {"text": call.last_user, "confidence": 0.05}
        return {"text": call.last_user.upper(), "confidence": 0.9}


def faulty_workflow() -> Workflow:
    wf = Workflow("faulty", "echo twice, then keep", inputs={"text": Input(str)})
    first = wf.step("first", "echo", text=wf.input.text)
    second = wf.step("second", "echo", text=first.text)
    wf.output(keep=wf.step("keep", "sleep", value=second.text))
    return wf


def faulty_orchestrator(small: FaultyModel, big: FaultyModel, **settings: Any) -> Orchestrator:
    """An Orchestrator on the two faulty models; ``settings`` adds to (or replaces) the defaults."""
    specs = {"small": ModelSpec(ref="function:small", local=True),
             "big": ModelSpec(ref="function:big", local=True)}
    defaults = {"models": specs, "default_sensitivity": "internal", "executor": {"step_timeout": STEP_TIMEOUT}}
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small", "big"], threshold=0.5)))
    registry.add_workflow(faulty_workflow())
    clients = {"small": FunctionModel(small, ref="function:small"), "big": FunctionModel(big, ref="function:big")}
    return Orchestrator(Settings(**{**defaults, **settings}), registry=registry, models=clients)


def make_worker_app(settings: Settings) -> Orchestrator:
    """The ``--app`` factory of worker processes: faulty models seeded with the process id."""
    rng = random.Random(os.getpid())
    return faulty_orchestrator(FaultyModel("function:small", rng), FaultyModel("function:big", rng),
                               redis_url=settings.redis_url, key_prefix=settings.key_prefix,
                               queue=settings.queue.model_dump())


def check_run(result: RunResult, event_types: list[str]) -> None:
    """The invariants every run must satisfy, whatever the models did."""
    assert result.status in ("completed", "failed"), result
    assert event_types[-1] == ("run.finished" if result.status == "completed" else "run.failed")
    assert [s.step_id for s in result.steps] == ["first", "second", "keep"]
    for step in result.steps:
        if step.status == "completed":
            if step.agent == "echo":
                EchoOut.model_validate(step.output)  # an accepted answer is schema-valid
                assert step.confidence >= 0.5 and step.attempts[-1].outcome == "accepted"
                assert step.model in ("function:small", "function:big")
        else:
            assert step.error, f"step {step.step_id} is {step.status} without a reason"
        assert {a.outcome for a in step.attempts} <= ATTEMPT_OUTCOMES
        assert all(a.problems for a in step.attempts if a.outcome in ("invalid", "error"))
    if result.status == "completed":
        assert result.error is None and result.answer == {"keep": result.step("keep").output}
    else:
        assert result.error
        assert any(s.status == "failed" for s in result.steps)


def paths_taken(result: RunResult) -> Counter[str]:
    """Which recovery and failure paths a run went through."""
    seen: Counter[str] = Counter({result.status: 1})
    for step in result.steps:
        if step.status == "completed" and any(a.repair for a in step.attempts):
            seen["repaired"] += 1
        if step.status == "completed" and step.escalated_from:
            seen["escalated"] += 1
        if step.error and "timed out" in step.error:
            seen["timed_out"] += 1
        if step.status == "failed" and "no model gave an acceptable answer" in (step.error or ""):
            seen["cascade_exhausted"] += 1
    return seen


__all__ = ["FAULTS", "FaultyModel", "check_run", "faulty_orchestrator", "make_worker_app", "paths_taken"]

