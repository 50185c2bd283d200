"""A step answered by a replicated model names the replica that answered, in its result and event."""

from __future__ import annotations

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.errors import ModelError
from orchestrator.events import Collector
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
