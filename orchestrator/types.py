"""Plain data that crosses boundaries: sensitivity, step and run results, costs, events."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from orchestrator.models.base import Usage


class Sensitivity(StrEnum):
    """How far a piece of data may travel. Confidential data only reaches local models."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def highest(cls, levels: list[Sensitivity]) -> Sensitivity:
        return max(levels, key=lambda s: s.rank, default=cls.PUBLIC)


_RANK = {Sensitivity.PUBLIC: 0, Sensitivity.INTERNAL: 1, Sensitivity.CONFIDENTIAL: 2}

AttemptOutcome = Literal["accepted", "invalid", "low_confidence", "error", "skipped_not_local"]
StepStatus = Literal["completed", "failed", "skipped"]
RunStatus = Literal["running", "completed", "failed", "budget_exceeded", "cancelled"]


class Attempt(BaseModel):
    """One try of a step on one model."""

    model: str
    outcome: AttemptOutcome
    confidence: float | None = None
    problems: list[str] = Field(default_factory=list)
    """Why the answer was rejected (validation errors, the exception)."""
    repair: bool = False
    """This attempt re-asked the same model with its validation errors."""
    local: bool = True
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    output: Any = None
    """A ``low_confidence`` attempt's valid answer (the one not trusted enough), so an evaluation can
    tell whether the local model was right where it escalated; None for other outcomes."""
    calls: int = 0
    """Requests the attempt sent to the model; 0 when the specialist answered without it (a
    pattern match, a rule), and then the step does not name the model as the one that answered."""


class StepResult(BaseModel):
    """What one step produced and what it took."""

    step_id: str
    agent: str
    status: StepStatus
    output: Any = None
    error: str | None = None
    model: str | None = None
    """The model whose answer was accepted (None for tools)."""
    endpoint: str | None = None
    """The server that gave that answer, for a model with several endpoints (replicas)."""
    local: bool = True
    confidence: float | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    escalated_from: list[str] = Field(default_factory=list)
    """Models tried before the accepted one, in order."""
    escalation_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    """What this step would have cost on the large (planner) model."""
    audit_cost_usd: float = 0.0
    """What checking this step's local answer on the next model of the cascade cost (``[learning]
    audit_rate``), apart from ``cost_usd``, what answering it cost; a fan-out's audited items add up."""
    audit_usage: Usage = Field(default_factory=Usage)
    """The tokens of those audits."""
    latency_ms: float = 0.0
    load_ms: float = 0.0
    """Time spent loading model weights during the step (an in-process model's first call); not
    part of ``latency_ms``, which is the time the step took to answer."""
    started_at: float = 0.0
    finished_at: float = 0.0
    sensitivity: Sensitivity | None = None
    """The level the step ran at (its most sensitive input); None when it never ran."""

    @property
    def escalated(self) -> bool:
        return bool(self.escalated_from)


class CostReport(BaseModel):
    """A run's spend, and what the same run would have cost on the large model everywhere."""

    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    baseline_model: str | None = None
    audit_cost_usd: float = 0.0
    """The part of ``cost_usd`` spent auditing local answers (the steps' ``audit_cost_usd``); the
    saving counts it: checking the local model is part of what running locally costs."""
    saving_usd: float = 0.0
    saving_ratio: float = 0.0
    """``saving_usd / baseline_cost_usd`` (0 when there is no baseline price)."""
    local_steps: int = 0
    remote_steps: int = 0

    @classmethod
    def from_steps(cls, steps: list[StepResult], planner_cost: float = 0.0,
                   baseline_model: str | None = None, planner_usage: Usage | None = None) -> CostReport:
        """Totals over the steps and the planner; the planner's calls count at their own price
        in the baseline too (the large model plans either way); audits count in the cost, not the baseline."""
        usage = planner_usage or Usage()
        for s in steps:
            usage = usage + s.usage + s.audit_usage
        audits = sum(s.audit_cost_usd for s in steps)
        cost = sum(s.cost_usd for s in steps) + planner_cost + audits
        baseline = sum(s.baseline_cost_usd for s in steps) + planner_cost
        saving = max(0.0, baseline - cost)
        model_steps = [s for s in steps if s.model is not None]
        return cls(
            usage=usage,
            cost_usd=cost,
            baseline_cost_usd=baseline,
            baseline_model=baseline_model,
            audit_cost_usd=audits,
            saving_usd=saving,
            saving_ratio=saving / baseline if baseline > 0 else 0.0,
            local_steps=sum(1 for s in model_steps if s.local),
            remote_steps=sum(1 for s in model_steps if not s.local),
        )


PlannedBy = Literal["workflow", "plan", "router", "cache", "planner"]
"""Where a run's plan came from: a named workflow, a given Plan, or for a free-form task the
task router (a workflow that fits), the plan cache (an earlier run's plan) or the planner model."""


class RunResult(BaseModel):
    """The outcome of a run: the answer, the plan, every step, the cost."""

    run_id: str
    status: RunStatus
    answer: Any = None
    plan: dict[str, Any] | None = None
    """The executed plan (``Plan.model_dump()``)."""
    steps: list[StepResult] = Field(default_factory=list)
    cost: CostReport = Field(default_factory=CostReport)
    error: str | None = None
    replanned: bool = False
    planned_by: PlannedBy | None = None
    """Which tier planned the run (see :data:`PlannedBy`); None for runs recorded before it existed."""
    started_at: float = Field(default_factory=time.time)
    duration_ms: float = 0.0

    def step(self, step_id: str) -> StepResult:
        for s in self.steps:
            if s.step_id == step_id:
                return s
        raise KeyError(step_id)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


EventType = Literal[
    "run.started",
    "plan.ready",
    "step.started",
    "step.delta",
    "step.finished",
    "step.failed",
    "step.skipped",
    "run.finished",
    "run.failed",
    "run.lease_lost",
    "model.replica_down",
    "model.replica_up",
]
"""``step.delta``: a piece of a generative step's answer as the model produces it (``data``:
``text``, ``draft`` (1, 2 ... per answer the step's models started: a repair or an escalation
starts a new one) and ``model``); the step's output is in its ``step.finished`` as always.
``run.lease_lost``: a worker's attempt lost its job's lease and stopped; another attempt
carries the run on (not terminal: followers keep following).
``model.replica_down`` / ``model.replica_up``: a replica of a replicated model was taken out
after a transient failure, or put back after answering, seen by a call of this run (``step_id``:
the step that made it; ``data``: ``model``, ``endpoint``, ``operation``, ``failures``, and when
taken out ``reason`` and ``retry_in_s``)."""


class Event(BaseModel):
    """Something that happened in a run, for live progress in the CLI, chat and HTTP."""

    type: EventType
    run_id: str
    step_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    ts: float = Field(default_factory=time.time)

    @property
    def terminal(self) -> bool:
        return self.type in ("run.finished", "run.failed")


__all__ = [
    "Attempt",
    "AttemptOutcome",
    "CostReport",
    "Event",
    "EventType",
    "PlannedBy",
    "RunResult",
    "RunStatus",
    "Sensitivity",
    "StepResult",
    "StepStatus",
]
