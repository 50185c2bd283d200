"""A deployment for the planning tiers: two small workflows on the echo agent, scripted models."""

from __future__ import annotations

from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.models import FunctionModel, ModelCall, ModelSpec, ScriptedModel
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import Echo, make_registry

GOOD = {"goal": "say it", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "$input.text"}}],
        "output": {"said": "$steps.say.text"}}
THRESHOLD = 0.3
"""The router threshold for the hash embeddings of the scripted models (not MiniLM's)."""


def workflows() -> list[Workflow]:
    triage = Workflow("triage_mail", "Triage a support ticket: classify it and route it to a team",
                      inputs={"ticket": Input(str, "The support ticket")},
                      examples=["triage this ticket", "classify this support ticket", "route this ticket to a team"])
    say = triage.step("say", "echo", text=triage.input.ticket)
    triage.output(routed=say.text)
    invoice = Workflow("read_invoice", "Read the total and vendor of an invoice",
                       inputs={"document": Input(str, "The invoice text"),
                               "currency": Input(str, "Currency to report", required=False, default="EUR")},
                       examples=["what is the total on this invoice", "read the vendor and total of this receipt"])
    read = invoice.step("read", "echo", text=invoice.input.document)
    invoice.output(total=read.text, currency=invoice.input.currency)
    return [triage, invoice]


def upper(call: ModelCall) -> dict[str, Any]:
    return {"text": call.last_user.upper()}


def deployment(planner: ScriptedModel | None = None, *, router: bool = True, cache: bool = True,
               local_planner: bool = False, embed: ScriptedModel | None = None,
               **planner_settings: Any) -> Orchestrator:
    """An orchestrator with the two workflows, an ``embed`` model and, if given, a planner."""
    models = {"small": ModelSpec(ref="scripted:small"), "embed": ModelSpec(ref="scripted:embed")}
    clients: dict[str, Any] = {"small": FunctionModel(upper, ref="scripted:small"),
                               "embed": embed or ScriptedModel(ref="scripted:embed")}
    if planner is not None:
        models["planner"] = ModelSpec(ref="scripted:planner", local=local_planner)
        clients["planner"] = planner
    settings = Settings(models=models, default_sensitivity="internal",
                        planner={"model": "planner" if planner else None, "router": router, "cache": cache,
                                 "router_threshold": THRESHOLD, "replan": False, **planner_settings})
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small"])))
    for workflow in workflows():
        registry.add_workflow(workflow)
    return Orchestrator(settings, registry=registry, models=clients)
