"""Audits: a sample of the steps a local model answered is also asked of the next model of the cascade.

Once a specialist answers locally, escalations alone stop telling how often the local answers are
right: the examples collected are the hard items only. With ``[learning] audit_rate = r`` the
collector sends a share ``r`` of the steps answered locally (without escalating) to the next model
of the specialist's cascade that may receive the step's data, stores that model's answer as a
``teacher`` example carrying an :class:`AuditRecord` (the local answer, its confidence, whether
the two agree), and so keeps measuring the local accuracy on an unbiased sample of the traffic.

Privacy: a step whose input is confidential is never audited (not even by a local model: it
would only repeat what the cascade did), and the audit talks to its model through the run's own
guard (:class:`~orchestrator.engine.guard.GuardedModel`), so redaction, the confidential-value
check and the run's budget apply to it exactly as to an escalation. The collector runs an audit
in the background once the step has returned (the step is neither slowed nor bound by the step
timeout); its tokens and cost are charged to the run's ledger, logged (``learning.audit``) and,
once the run finishes, reported on the step apart from what answering it cost
(``StepResult.audit_cost_usd``, ``CostReport.audit_cost_usd``). A failing audit (a model error,
a spent budget) is logged and never changes the step's answer.

Step-down (``[learning] audit_min``): auditing every tenth local answer forever costs a tenth of
the traffic on the teacher. :class:`AuditRate` lowers a specialist's rate to ``audit_min`` once
its last ``audit_proof`` audits agree with the local answers at least ``audit_agreement`` of the
time, and raises it back to ``audit_rate`` as soon as they no longer do. The audits it counts
are this process's (each worker proves the model on its own share of the traffic).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.guard import GuardedModel, RunGuard, may_receive
from orchestrator.engine.registry import Registry
from orchestrator.engine.router import Router
from orchestrator.errors import OrchestratorError
from orchestrator.learning.examples import AuditRecord
from orchestrator.logging import get_logger
from orchestrator.models.base import Usage
from orchestrator.settings.sections import LearningSettings
from orchestrator.specialist import Specialist
from orchestrator.types import Sensitivity, StepResult

log = get_logger(__name__)

NOT_COMPARED = frozenset({"confidence", "scores"})
"""Output fields that say how sure a model is, not what it answered: left out of the agreement."""


@dataclass(frozen=True, slots=True)
class Audit:
    """A teacher's answer to an audited step, and what asking cost."""

    step_id: str
    """The audited step (a fan-out's step, whichever item was audited): its cost goes there."""
    model: str
    output: dict[str, Any] | None
    """None when the teacher gave no usable answer (an error, a spent budget, low confidence)."""
    record: AuditRecord | None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0


@dataclass
class AuditRate:
    """One specialist's audit rate: ``high`` until the last ``proof`` audits agree at least
    ``agreement`` of the time, then ``low``; back to ``high`` when they no longer do."""

    high: float
    low: float | None = None
    """None: the rate never steps down."""
    proof: int = 100
    agreement: float = 0.95
    recent: deque[bool] = field(default_factory=deque)
    """Whether each of the last ``proof`` audits agreed, oldest first."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.high <= 1.0 or (self.low is not None and not 0.0 <= self.low <= self.high):
            raise ValueError(f"audit rates must satisfy 0 <= low <= high <= 1, got high={self.high} low={self.low}")
        if self.proof < 1:
            raise ValueError(f"proof must be at least 1, got {self.proof}: the audits that decide the step-down")
        if not 0.0 < self.agreement <= 1.0:
            raise ValueError(f"agreement must be in (0, 1], got {self.agreement:g}: the share of audits agreeing")
        self.recent = deque(self.recent, maxlen=self.proof)

    @classmethod
    def from_settings(cls, settings: LearningSettings) -> AuditRate:
        return cls(settings.audit_rate, settings.audit_min, settings.audit_proof, settings.audit_agreement)

    @property
    def proved(self) -> bool:
        """Whether the last ``proof`` audits agree often enough to audit at ``low``."""
        return len(self.recent) >= self.proof and sum(self.recent) >= self.agreement * self.proof

    @property
    def rate(self) -> float:
        return self.low if self.low is not None and self.proved else self.high

    def record(self, agreed: bool) -> None:
        """Count one finished audit."""
        self.recent.append(agreed)


def agrees(local: Mapping[str, Any], teacher: Mapping[str, Any]) -> bool:
    """Whether two answers say the same: equal on every answer field the teacher gave."""
    fields = [key for key in teacher if key not in NOT_COMPARED]
    return bool(fields) and all(local.get(key) == teacher[key] for key in fields)


class Auditor:
    """Samples locally answered steps and asks the next model of their cascade."""

    def __init__(self, registry: Registry, router: Router, settings: LearningSettings, *,
                 chance: Callable[[], float] | None = None) -> None:
        self.registry = registry
        self.router = router
        self.settings = settings
        self.rates: dict[str, AuditRate] = {}
        self.chance = chance or random.random

    def rate(self, specialist: str) -> AuditRate:
        """The audit rate of ``specialist`` (stepped down once its audits agree)."""
        if specialist not in self.rates:
            self.rates[specialist] = AuditRate.from_settings(self.settings)
        return self.rates[specialist]

    def sampled(self, result: StepResult, sensitivity: Sensitivity) -> float | None:
        """The rate this step was sampled at, or None when it is not audited: it must have been
        answered locally, without escalating, on an input that is not confidential."""
        if not (result.status == "completed" and not result.escalated_from and result.local
                and isinstance(result.output, dict) and sensitivity is not Sensitivity.CONFIDENTIAL):
            return None
        rate = self.rate(result.agent).rate
        return rate if rate > 0 and self.chance() < rate else None

    def teacher(self, specialist: Specialist[Any, Any], answered_by: str | None,
                sensitivity: Sensitivity) -> str | None:
        """The next model of the cascade after the one that answered that may receive the data."""
        names = self.router.cascade(specialist)
        refs = [self.router.pool.spec(name).ref for name in names]
        start = refs.index(answered_by) + 1 if answered_by in refs else 1
        return next((name for name in names[start:] if may_receive(self.router.pool.spec(name), sensitivity)), None)

    async def audit(self, specialist_name: str, request: BaseModel, result: StepResult, sensitivity: Sensitivity,
                    guard: RunGuard, instruction: str = "", *, rate: float = 1.0,
                    step_id: str | None = None) -> Audit | None:
        """Ask the teacher about a step :meth:`sampled` sampled at ``rate``; None when there is no
        teacher to ask. ``step_id`` names the step (a fan-out item: ``step[i]``) in the logs."""
        step_id = step_id or result.step_id
        specialist = self.registry.agent(specialist_name)
        if not isinstance(specialist, Specialist):
            return None
        name = self.teacher(specialist, result.model, sensitivity)
        if name is None:
            return None
        model = GuardedModel(name, self.router.pool, guard, sensitivity=sensitivity, step_id=step_id)
        try:
            verdict = await specialist.attempt(request, model, instruction=instruction, previous=None)
        except OrchestratorError as exc:  # budget, privacy, a failing model: the step keeps its answer
            log.warning("learning.audit_failed", step=step_id, model=model.ref, error=str(exc),
                        cost_usd=model.cost_usd)
            return Audit(result.step_id, model.ref, None, None, model.usage, model.cost_usd)
        if not verdict.valid or verdict.output is None or verdict.confidence < specialist.config.threshold:
            log.info("learning.audit_inconclusive", step=step_id, model=model.ref, cost_usd=model.cost_usd)
            return Audit(result.step_id, model.ref, None, None, model.usage, model.cost_usd)
        output = verdict.output.model_dump(mode="json")
        assert isinstance(result.output, dict)
        record = AuditRecord(local_output=result.output, local_model=result.model,
                             local_confidence=result.confidence, agreed=agrees(result.output, output), rate=rate)
        self.rate(specialist_name).record(record.agreed)
        log.info("learning.audit", step=step_id, model=model.ref, agreed=record.agreed, rate=rate,
                 tokens=model.usage.total_tokens, cost_usd=model.cost_usd)
        return Audit(result.step_id, model.ref, output, record, model.usage, model.cost_usd)


__all__ = ["NOT_COMPARED", "Audit", "AuditRate", "Auditor", "agrees"]
