"""A two-model deployment for evaluation tests: a local model that is right when sure, a big one always right.

Each item's text is ``"<gold label> <confidence> <local answer>"``: the local model answers
``<local answer>`` with ``<confidence>``; the big (priced, not local) model answers the gold label.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import Echo, make_registry

MODELS = {
    "small": ModelSpec(ref="function:small", local=True, concurrency=64, retries=0),
    "big": ModelSpec(ref="function:big", local=False, price_input=1.0, price_output=2.0, concurrency=64, retries=0),
}


def small(call: ModelCall) -> dict[str, Any]:
    _, confidence, local = call.last_user.split()
    return {"text": local, "confidence": float(confidence)}


def big(call: ModelCall) -> dict[str, Any]:
    gold = call.last_user.split()[0]
    if gold == "boom":
        raise ValueError("the big model fell over")
    return {"text": gold, "confidence": 0.99}


def echo_workflow() -> Workflow:
    wf = Workflow("label_it", "Label a text.", inputs={"text": Input(str, "The text.")})
    wf.output(label=wf.step("label", "echo", text=wf.input.text).text)
    return wf


def build(threshold: float = 0.5, cascade: tuple[str, ...] = ("small", "big")) -> Orchestrator:
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=list(cascade), threshold=threshold)))
    registry.add_workflow(echo_workflow())
    settings = Settings(models=MODELS, default_cascade=list(cascade), default_sensitivity="public",
                        planner={"model": None}, baseline_model="big")
    return Orchestrator(settings, registry=registry, models={"small": FunctionModel(small, ref="function:small"),
                                                            "big": FunctionModel(big, ref="function:big")})


def rows(spec: list[tuple[str, float, str]]) -> list[dict[str, Any]]:
    """``[(gold, local confidence, local answer)]`` -> rows with a ``text`` and a ``gold`` column."""
    return [{"text": f"{gold} {confidence} {local}", "gold": gold} for gold, confidence, local in spec]





def app() -> Orchestrator:
    """``--app tests.evaluation.deployment:app`` for the CLI tests."""
    return build()
__all__ = ["MODELS", "app", "build", "echo_workflow", "rows"]
