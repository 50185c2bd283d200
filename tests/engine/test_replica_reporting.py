"""A replicated model in a run: the step and its event name the replica that answered; a replica taken
out or put back is an event of the run whose call saw it (and a line of the CLI progress)."""

from __future__ import annotations

import io

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.errors import ModelError
from orchestrator.events import Collector, FanOut
from orchestrator.interfaces.cli._common import Progress
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.models.base import Model
from orchestrator.models.replicas import ReplicatedModel
from orchestrator.plan import Plan
from orchestrator.settings import Settings
from tests.engine.agents import Echo

URLS = ["http://127.0.0.1:8081/v1", "http://127.0.0.1:8082/v1"]
SPEC = ModelSpec(name="small", ref="openai:small", options={"endpoints": URLS})
PLAN = Plan.parse({"goal": "g", "steps": [{"id": "s", "agent": "echo", "inputs": {"text": "hello"}}]})


def refused(call: ModelCall) -> str:
    raise ModelError("openai:small", f"connection refused at {URLS[0]}", retryable=True)


def replica(spec: ModelSpec) -> Model:
    if spec.options["base_url"] == URLS[0]:
        return FunctionModel(refused, ref=spec.ref)
    return FunctionModel(lambda call: {"text": call.last_user, "confidence": 1.0}, ref=spec.ref)


async def test_the_step_and_its_event_name_the_replica_that_answered() -> None:
    model = ReplicatedModel(SPEC, factory=replica)
    registry = Registry()
    registry.add(Echo())
    settings = Settings(models={"small": SPEC}, default_cascade=["small"], planner={"model": None},
                        default_sensitivity="public")
    events = Collector()
    async with Orchestrator(settings, registry=registry, models={"small": model}) as orch:
        result = await orch.run(PLAN, {}, events=events)

    step = result.step("s")
    assert step.status == "completed" and step.model == "openai:small" and step.endpoint == URLS[1]
    finished = next(e for e in events.events if e.type == "step.finished")
    assert finished.data["endpoint"] == URLS[1]
    down, up = model.status()
    assert not down.up and down.last_error == f"connection refused at {URLS[0]}" and up.calls == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_replica_taken_out_and_put_back_is_an_event_of_the_run_whose_call_saw_it() -> None:
    refusing = True

    def flaky(call: ModelCall) -> dict[str, object]:
        if refusing:
            raise ModelError("openai:small", f"connection refused at {URLS[0]}", retryable=True)
        return {"text": "first replica", "confidence": 1.0}

    def replica_of(spec: ModelSpec) -> Model:
        if spec.options["base_url"] == URLS[0]:
            return FunctionModel(flaky, ref=spec.ref)
        return FunctionModel(lambda call: {"text": call.last_user, "confidence": 1.0}, ref=spec.ref)

    clock = Clock()
    model = ReplicatedModel(SPEC, factory=replica_of, clock=clock)
    registry = Registry()
    registry.add(Echo())
    settings = Settings(models={"small": SPEC}, default_cascade=["small"], planner={"model": None},
                        default_sensitivity="public")
    first, second, printed = Collector(), Collector(), io.StringIO()
    async with Orchestrator(settings, registry=registry, models={"small": model}) as orch:
        await orch.run(PLAN, {}, events=FanOut([first, Progress(printed)]))
        refusing = False
        clock.now += 1.5  # past the backoff: the first replica is tried again, and answers
        result = await orch.run(PLAN, {}, events=FanOut([second, Progress(printed)]))

    assert first.types() == ["run.started", "plan.ready", "step.started", "model.replica_down", "step.finished",
                             "run.finished"]
    down = first.events[3]
    assert down.step_id == "s" and down.run_id == first.events[0].run_id
    assert down.data == {"model": "openai:small", "endpoint": URLS[0], "operation": "chat", "failures": 1,
                         "reason": f"connection refused at {URLS[0]}", "retry_in_s": 1.0}
    assert "model.replica_down" not in second.types()
    up = next(e for e in second.events if e.type == "model.replica_up")
    assert up.step_id == "s" and up.data == {"model": "openai:small", "endpoint": URLS[0], "operation": "chat",
                                             "failures": 1}
    assert result.step("s").endpoint == URLS[0] and all(r.up for r in model.status())
    lines = [line.strip() for line in printed.getvalue().splitlines() if "replica" in line]
    assert lines == [f"replica {URLS[0]} of openai:small is out (connection refused at {URLS[0]}); tried again "
                     "in 1.0 s", f"replica {URLS[0]} of openai:small is back"]
