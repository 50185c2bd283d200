"""The orchestrator package's public API: the names, and that each one loads (lazily)."""

from __future__ import annotations

import subprocess
import sys

import orchestrator

PUBLIC = [
    "Budget", "BudgetExceeded", "ConfigError", "Event", "EventSink", "FunctionModel", "IdempotencyConflict",
    "Input", "InputError", "JobHandle", "JobQueue", "Message", "Model", "ModelError", "ModelSpec", "Orchestrator",
    "OrchestratorError", "Plan", "PlanError", "PrivacyViolation", "Registry", "RunResult", "ScriptedModel",
    "Sensitivity", "Settings", "Specialist", "SpecialistConfig", "Step", "StepFailed", "StepResult", "Tool",
    "UserError", "Verdict", "Workflow",
]


def test_exported_members() -> None:
    assert orchestrator.__all__ == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(orchestrator, name).__name__ == name


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    probe = "import sys, orchestrator; print(sorted(m for m in ('langgraph', 'openai', 'redis') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
