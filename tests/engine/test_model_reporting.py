"""What a step reports about its models: only models it called, and loading time apart from answering."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any, ClassVar

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.events import Collector
from orchestrator.interfaces.cli._common import Progress
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.models.base import Model
from orchestrator.models.loading import report_load, report_load_start
from orchestrator.plan import Plan
from orchestrator.settings import Settings
from orchestrator.specialist import Specialist, Verdict
from tests.engine.agents import Echo, EchoIn, EchoOut

SETTINGS = Settings(models={"small": ModelSpec(ref="function:small", local=True)}, default_cascade=["small"],
                    planner={"model": None}, default_sensitivity="public")


class Lookup(Specialist[EchoIn, EchoOut]):
    """Answers from a table when it can (no model call), else asks the model."""

    name: ClassVar[str] = "lookup"
    description: ClassVar[str] = "Looks text up."
    Input = EchoIn
    Output = EchoOut

    async def attempt(self, request: EchoIn, model: Model, *, instruction: str = "",
                      previous: Verdict | None = None) -> Verdict:
        if request.text == "known":
            output = EchoOut(text="from the table")
            return Verdict(output, 1.0, [], output.text)
        completion = await model.complete([], max_tokens=4)
        output = EchoOut(text=completion.text)
        return Verdict(output, 1.0, [], completion.text)


def plan(agent: str, text: str) -> Plan:
    return Plan.parse({"goal": "g", "steps": [{"id": "s", "agent": agent, "inputs": {"text": text}}]})


def deployment(model: FunctionModel, *agents: Any) -> Orchestrator:
    registry = Registry()
    for agent in agents:
        registry.add(agent)
    return Orchestrator(SETTINGS, registry=registry, models={"small": model})


async def test_a_step_answered_without_its_model_does_not_name_the_model() -> None:
    model = FunctionModel(lambda call: "from the model", ref="function:small")
    async with deployment(model, Lookup()) as orch:
        known = (await orch.run(plan("lookup", "known"), {})).step("s")
        asked = (await orch.run(plan("lookup", "other"), {})).step("s")
    assert known.output == {"text": "from the table", "confidence": 1.0}
    assert known.model is None and known.usage.total_tokens == 0
    assert [a.calls for a in known.attempts] == [0]
    assert asked.model == "function:small" and [a.calls for a in asked.attempts] == [1]
    assert len(model.calls) == 1


class LoadingModel(FunctionModel):
    """Loads its 'weights' (a short sleep) on the first call, reporting it as a backend does."""

    def __init__(self) -> None:
        super().__init__(self._answer, ref="function:small")
        self.loaded = False
        self.load_seconds = 0.0

    async def _answer(self, call: ModelCall) -> dict[str, Any]:
        if not self.loaded:
            report_load_start(self.ref)
            started = time.perf_counter()
            await asyncio.sleep(0.2)
            self.load_seconds = time.perf_counter() - started
            report_load(self.ref, self.load_seconds)
            self.loaded = True
        return {"text": call.last_user, "confidence": 1.0}


async def test_loading_weights_is_reported_apart_from_the_steps_latency() -> None:
    model = LoadingModel()
    async with deployment(model, Echo()) as orch:
        events = Collector()
        first = await orch.run(plan("echo", "one"), {}, events=events)
        second = (await orch.run(plan("echo", "two"), {})).step("s")
    step = first.step("s")
    wall_ms = (step.finished_at - step.started_at) * 1000
    assert step.load_ms == model.load_seconds * 1000 > 0
    assert abs(step.latency_ms - (wall_ms - step.load_ms)) < 1e-6  # the load is not counted as answering
    finished = next(e for e in events.events if e.type == "step.finished")
    assert finished.data["load_ms"] == round(step.load_ms, 1)
    assert second.load_ms == 0.0  # loaded once


async def test_cli_progress_says_no_model_call_for_such_a_step() -> None:
    lines = io.StringIO()
    async with deployment(FunctionModel(lambda call: "x", ref="function:small"), Lookup()) as orch:
        await orch.run(plan("lookup", "known"), {}, events=Progress(lines))
    finished = [line for line in lines.getvalue().splitlines() if line.strip().startswith("ok")]
    assert len(finished) == 1 and "no model call" in finished[0] and "function:small" not in finished[0]
