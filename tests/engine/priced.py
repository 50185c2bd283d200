"""A priced deployment of scripted models, shared by the routing and the guard tests."""

from __future__ import annotations

from pydantic import BaseModel

from orchestrator.engine.app import Orchestrator
from orchestrator.models import Completion, ModelSpec, Usage
from orchestrator.models.base import Model
from orchestrator.plan import Plan
from orchestrator.settings import Budget, Settings
from orchestrator.specialist import SpecialistConfig, Tool
from tests.engine.agents import Echo, make_registry

PRICED = {
    "small": ModelSpec(ref="scripted:small", local=True),
    "big": ModelSpec(ref="scripted:big", local=False, price_input=1.0, price_output=2.0),
    "planner": ModelSpec(ref="scripted:planner", local=False, price_input=10.0, price_output=30.0),
}


def answer(text: str, confidence: float = 1.0, input_tokens: int = 1000, output_tokens: int = 500) -> Completion:
    return Completion(text=f'{{"text": "{text}", "confidence": {confidence}}}',
                      usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


def orchestrator(clients: dict[str, Model], *, cascade: list[str], threshold: float = 0.5,
                 budget: Budget | None = None, planner: str | None = "planner", replan: bool = False) -> Orchestrator:
    settings = Settings(models=PRICED, planner={"model": planner, "replan": replan},
                        budget=budget or Budget(), default_sensitivity="internal")
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=cascade, threshold=threshold)))
    registry.add(StrictParse())
    return Orchestrator(settings, registry=registry, models=clients)


class ParseIn(BaseModel):
    text: str


class ParseOut(BaseModel):
    fields: dict[str, str]


class StrictParse(Tool[ParseIn, ParseOut]):
    """A tool whose error quotes its input, as many real parsers' errors do."""

    name = "strict_parse"
    description = "Parses 'key: value' lines."
    Input = ParseIn
    Output = ParseOut

    def run(self, request: ParseIn) -> ParseOut:
        raise ValueError(f"no 'key: value' line in {request.text[:20]!r}")


def tokens(input_tokens: int, output_tokens: int, text: str = "nope") -> Completion:
    return Completion(text=text, usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


ONE_STEP = Plan.parse({"goal": "echo", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "$input.text"}}]})


__all__ = ["ONE_STEP", "PRICED", "ParseIn", "ParseOut", "StrictParse", "answer", "orchestrator", "tokens"]
