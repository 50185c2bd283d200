"""slm-orchestrator: a large model plans, a fleet of small local models does the work.

The public API. Names load on first use, so ``import orchestrator`` (and the
CLI) stays fast; heavy dependencies load only when a run needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from orchestrator import _moved

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.engine.registry import Registry
    from orchestrator.errors import (
        BudgetExceeded,
        ConfigError,
        IdempotencyConflict,
        InputError,
        ModelError,
        OrchestratorError,
        PlanError,
        PrivacyViolation,
        StepFailed,
        UserError,
    )
    from orchestrator.events import EventSink
    from orchestrator.models import FunctionModel, Message, Model, ModelSpec, ScriptedModel
    from orchestrator.plan import Plan, Step
    from orchestrator.queue import JobHandle, JobQueue
    from orchestrator.settings import Budget, Settings
    from orchestrator.specialist import Specialist, SpecialistConfig, Tool, Verdict
    from orchestrator.types import Event, RunResult, Sensitivity, StepResult
    from orchestrator.workflow import Input, Workflow

_EXPORTS = {
    "Orchestrator": "orchestrator.engine.app",
    "Settings": "orchestrator.settings",
    "Plan": "orchestrator.plan",
    "Step": "orchestrator.plan",
    "Workflow": "orchestrator.workflow",
    "Input": "orchestrator.workflow",
    "Registry": "orchestrator.engine.registry",
    "Specialist": "orchestrator.specialist",
    "SpecialistConfig": "orchestrator.specialist",
    "Tool": "orchestrator.specialist",
    "Verdict": "orchestrator.specialist",
    "Budget": "orchestrator.settings",
    "EventSink": "orchestrator.events",
    "Event": "orchestrator.types",
    "RunResult": "orchestrator.types",
    "StepResult": "orchestrator.types",
    "Sensitivity": "orchestrator.types",
    "Model": "orchestrator.models",
    "Message": "orchestrator.models",
    "ModelSpec": "orchestrator.models",
    "ScriptedModel": "orchestrator.models",
    "FunctionModel": "orchestrator.models",
    "OrchestratorError": "orchestrator.errors",
    "UserError": "orchestrator.errors",
    "ConfigError": "orchestrator.errors",
    "IdempotencyConflict": "orchestrator.errors",
    "JobHandle": "orchestrator.queue",
    "JobQueue": "orchestrator.queue",
    "InputError": "orchestrator.errors",
    "PlanError": "orchestrator.errors",
    "ModelError": "orchestrator.errors",
    "PrivacyViolation": "orchestrator.errors",
    "StepFailed": "orchestrator.errors",
    "BudgetExceeded": "orchestrator.errors",
}

__all__ = sorted(_EXPORTS)

_moved.install()  # old module paths (orchestrator.app, orchestrator.cli, ...) import with a warning


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
