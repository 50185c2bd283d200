"""Model factories for subprocess tests: ``ref = "python:tests.scripted_models:triage"``."""

from __future__ import annotations

from orchestrator.models import FunctionModel, ModelSpec, ScriptedModel
from tests.workflows.test_workflows_e2e import scripted


def triage(spec: ModelSpec) -> FunctionModel:
    """Answers the shipped workflows' prompts like a careful small model."""
    return FunctionModel(scripted, ref=spec.ref)


def bad_planner(spec: ModelSpec) -> ScriptedModel:
    """A planner that only ever proposes an unregistered agent."""
    plan = {"goal": "g", "steps": [{"id": "x", "agent": "delete_everything", "inputs": {}}]}
    return ScriptedModel([plan] * 5, ref=spec.ref, local=False)


def embedder(spec: ModelSpec) -> ScriptedModel:
    """A local model that only embeds (bag-of-words hashes), as a classifier head's encoder."""
    from orchestrator.models.base import Capabilities

    return ScriptedModel(ref=spec.ref, capabilities=Capabilities(structured_output="none", embeddings=True))
