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
timeout); its tokens and cost are charged to the run's ledger and logged (``learning.audit``),
not added to the step. A failing audit (a model error, a spent budget) is logged and never
changes the step's answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.guard import GuardedModel, RunGuard, may_receive
from orchestrator.engine.registry import Registry
from orchestrator.engine.router import Router
from orchestrator.errors import OrchestratorError
from orchestrator.learning.examples import AuditRecord
from orchestrator.logging import get_logger
from orchestrator.specialist import Specialist
from orchestrator.types import Sensitivity, StepResult

log = get_logger(__name__)

NOT_COMPARED = frozenset({"confidence", "scores"})
"""Output fields that say how sure a model is, not what it answered: left out of the agreement."""


@dataclass(frozen=True, slots=True)
class Audit:
    """A teacher's answer to an audited step."""

    model: str
    output: dict[str, Any]
    record: AuditRecord


def agrees(local: Mapping[str, Any], teacher: Mapping[str, Any]) -> bool:
    """Whether two answers say the same: equal on every answer field the teacher gave."""
    fields = [key for key in teacher if key not in NOT_COMPARED]
    return bool(fields) and all(local.get(key) == teacher[key] for key in fields)


class Auditor:
    """Samples locally answered steps and asks the next model of their cascade."""

    def __init__(self, registry: Registry, router: Router, rate: float, *,
                 chance: Callable[[], float] | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"audit rate must be in [0, 1], got {rate}")
        self.registry = registry
        self.router = router
        self.rate = rate
        self.chance = chance or random.random

    def wanted(self, result: StepResult, sensitivity: Sensitivity) -> bool:
        """Whether this step is sampled: answered locally, not escalated, not confidential."""
        return (self.rate > 0 and result.status == "completed" and not result.escalated_from and result.local
                and isinstance(result.output, dict) and sensitivity is not Sensitivity.CONFIDENTIAL
                and self.chance() < self.rate)

    def teacher(self, specialist: Specialist[Any, Any], answered_by: str | None,
                sensitivity: Sensitivity) -> str | None:
        """The next model of the cascade after the one that answered that may receive the data."""
        names = self.router.cascade(specialist)
        refs = [self.router.pool.spec(name).ref for name in names]
        start = refs.index(answered_by) + 1 if answered_by in refs else 1
        return next((name for name in names[start:] if may_receive(self.router.pool.spec(name), sensitivity)), None)

    async def audit(self, specialist_name: str, request: BaseModel, result: StepResult, sensitivity: Sensitivity,
                    guard: RunGuard, instruction: str = "") -> Audit | None:
        """Ask the teacher about a step :meth:`wanted` sampled; None when no teacher or no valid answer."""
        specialist = self.registry.agent(specialist_name)
        if not isinstance(specialist, Specialist):
            return None
        name = self.teacher(specialist, result.model, sensitivity)
        if name is None:
            return None
        model = GuardedModel(name, self.router.pool, guard, sensitivity=sensitivity, step_id=result.step_id)
        try:
            verdict = await specialist.attempt(request, model, instruction=instruction, previous=None)
        except OrchestratorError as exc:  # budget, privacy, a failing model: the step keeps its answer
            log.warning("learning.audit_failed", step=result.step_id, model=model.ref, error=str(exc))
            return None
        if not verdict.valid or verdict.output is None or verdict.confidence < specialist.config.threshold:
            log.info("learning.audit_inconclusive", step=result.step_id, model=model.ref)
            return None
        output = verdict.output.model_dump(mode="json")
        assert isinstance(result.output, dict)
        record = AuditRecord(local_output=result.output, local_model=result.model,
                             local_confidence=result.confidence, agreed=agrees(result.output, output), rate=self.rate)
        log.info("learning.audit", step=result.step_id, model=model.ref, agreed=record.agreed,
                 tokens=model.usage.total_tokens, cost_usd=model.cost_usd)
        return Audit(model.ref, output, record)


__all__ = ["NOT_COMPARED", "Audit", "Auditor", "agrees"]
