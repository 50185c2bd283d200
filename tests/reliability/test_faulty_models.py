"""Models that hang, fail or answer garbage: every run ends completed or with a recorded reason.

100 runs of a three-step plan (two model steps on a cascade small -> big, then a tool) on
two FunctionModels that misbehave on 30% of calls (seeded): hang past the step timeout,
raise a retryable connection error, raise a 5xx, answer non-JSON, answer JSON that breaks
the output schema, or answer with too little confidence. Exact rates are not asserted,
only the invariants, and that each recovery path (repair, escalation) and failure path
was taken at least once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from orchestrator.app import Orchestrator
from orchestrator.errors import ModelError
from orchestrator.events import Collector
from orchestrator.models import FunctionModel, ModelSpec
from orchestrator.models.scripted import ModelCall, Reply
from orchestrator.plan import Plan
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.types import RunResult
from tests.engine.agents import Echo, EchoOut, make_registry

RUNS = 100
FAULT_RATE = 0.3
STEP_TIMEOUT = 0.2
FAULTS = ("hang", "connection", "server_error", "not_json", "schema_invalid", "low_confidence")
ATTEMPT_OUTCOMES = {"accepted", "invalid", "low_confidence", "error"}

PLAN = Plan.parse({"goal": "echo twice, then keep", "steps": [
    {"id": "first", "agent": "echo", "inputs": {"text": "$input.text"}},
    {"id": "second", "agent": "echo", "inputs": {"text": "$steps.first.text"}},
    {"id": "keep", "agent": "sleep", "inputs": {"value": "$steps.second.text"}},
]})


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


def _orchestrator(small: FaultyModel, big: FaultyModel) -> Orchestrator:
    specs = {"small": ModelSpec(ref="function:small", local=True),
             "big": ModelSpec(ref="function:big", local=True)}
    settings = Settings(models=specs, default_sensitivity="internal", executor={"step_timeout": STEP_TIMEOUT})
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small", "big"], threshold=0.5)))
    clients = {"small": FunctionModel(small, ref="function:small"), "big": FunctionModel(big, ref="function:big")}
    return Orchestrator(settings, registry=registry, models=clients)


def _check_run(result: RunResult, events: Collector) -> None:
    """The invariants every run must satisfy, whatever the models did."""
    assert result.status in ("completed", "failed"), result
    assert events.types()[-1] == ("run.finished" if result.status == "completed" else "run.failed")
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


async def test_faulty_models_never_lose_a_run() -> None:
    rng = random.Random(1234)
    small, big = FaultyModel("function:small", rng), FaultyModel("function:big", rng)
    orch = _orchestrator(small, big)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    seen: Counter[str] = Counter()
    for batch in range(RUNS // 10):  # ten runs at a time, so hangs overlap
        sinks = [Collector() for _ in range(10)]
        results = await asyncio.wait_for(asyncio.gather(*(
            orch.run(PLAN, {"text": f"ticket {batch}-{i}"}, events=sink) for i, sink in enumerate(sinks)
        )), timeout=60)
        for result, sink in zip(results, sinks, strict=True):
            _check_run(result, sink)
            seen[result.status] += 1
            for step in result.steps:
                if step.status == "completed" and any(a.repair for a in step.attempts):
                    seen["repaired"] += 1
                if step.status == "completed" and step.escalated_from:
                    seen["escalated"] += 1
                if step.error and "timed out" in step.error:
                    seen["timed_out"] += 1
                if step.status == "failed" and "no model gave an acceptable answer" in (step.error or ""):
                    seen["cascade_exhausted"] += 1
    await orch.aclose()
    assert unhandled == []
    assert seen["completed"] + seen["failed"] == RUNS
    assert seen["completed"] > RUNS // 2  # faults are recovered from far more often than not
    for path in ("failed", "repaired", "escalated", "timed_out", "cascade_exhausted"):
        assert seen[path] > 0, f"no run took the {path} path: {dict(seen)}"
    assert {f for m in (small, big) for f in m.did} == {"ok", *FAULTS}
