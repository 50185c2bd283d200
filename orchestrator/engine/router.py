"""The cascade: which model each attempt of a step runs on, with repair and escalation.

A step runs on the first model of its specialist's cascade. An invalid answer
gets one repair attempt on the same model; an answer still invalid, or valid
but below the specialist's confidence threshold, escalates to the next model.
Every attempt is recorded on the :class:`StepResult`, with what it spent.

Models the step's data may not reach are skipped (recorded as
``skipped_not_local``); every attempt talks to its model through the guard
(:mod:`orchestrator.engine.guard`), which enforces privacy, budget and
concurrency on each request.
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.guard import GuardedModel, RunGuard, may_receive
from orchestrator.errors import BudgetExceeded, ConfigError, ModelError, PrivacyViolation
from orchestrator.logging import get_logger
from orchestrator.models.base import Usage, estimate_tokens
from orchestrator.models.pool import ModelPool
from orchestrator.models.spec import ModelSpec
from orchestrator.specialist import Specialist, Verdict
from orchestrator.types import Attempt, AttemptOutcome, Sensitivity, StepResult

log = get_logger(__name__)


class Router:
    """Runs a specialist over its cascade with repair and escalation."""

    def __init__(self, pool: ModelPool, *, default_cascade: Sequence[str],
                 baseline: ModelSpec | None = None):
        self.pool = pool
        self.default_cascade = list(default_cascade)
        self.baseline = baseline
        """The large model every step is priced against for the saving."""

    def cascade(self, specialist: Specialist[Any, Any]) -> list[str]:
        cascade = specialist.config.cascade or self.default_cascade
        if not cascade:
            raise ConfigError(f"specialist {specialist.name!r} has no models: set its cascade or "
                              "default_cascade in the configuration", key=f"specialists.{specialist.name}")
        return cascade

    async def run(self, specialist: Specialist[Any, Any], request: BaseModel, *, step_id: str,
                  instruction: str, sensitivity: Sensitivity, guard: RunGuard) -> StepResult:
        """Try the cascade; return the accepted answer or a failed StepResult with every attempt.

        Either way the result carries the tokens and cost of every attempt. A budget stop or a
        privacy violation is raised with that partial result attached as ``exc.partial``.
        """
        result = StepResult(step_id=step_id, agent=specialist.name, status="failed")
        try:
            await self._cascade(result, specialist, request, instruction=instruction,
                                sensitivity=sensitivity, guard=guard)
        except (BudgetExceeded, PrivacyViolation) as exc:
            result.error = str(exc)
            exc.partial = self._tally(result)
            raise
        return self._tally(result)

    async def _cascade(self, result: StepResult, specialist: Specialist[Any, Any], request: BaseModel, *,
                       instruction: str, sensitivity: Sensitivity, guard: RunGuard) -> None:
        threshold = specialist.config.threshold
        for name in self.cascade(specialist):
            spec = self.pool.spec(name)
            if not may_receive(spec, sensitivity):
                result.attempts.append(Attempt(model=spec.ref, outcome="skipped_not_local", local=False,
                                               problems=["input is confidential; model is not local"]))
                continue
            model = GuardedModel(name, self.pool, guard, sensitivity=sensitivity, step_id=result.step_id)
            verdict = await self._try(result, specialist, request, model, instruction, None)
            if verdict is not None and not verdict.valid:
                verdict = await self._try(result, specialist, request, model, instruction, verdict)
            if verdict is not None and verdict.valid and verdict.confidence >= threshold:
                self._accept(result, verdict, model)
                return
            result.escalated_from.append(spec.ref)
            result.escalation_reason = _escalation_reason(result.attempts[-1], threshold)
            log.info("step.escalate", step=result.step_id, model=spec.ref, reason=result.escalation_reason)
        result.escalated_from = result.escalated_from[:-1]
        result.error = _failure(result.attempts, "no model in the cascade")

    async def _try(self, result: StepResult, specialist: Specialist[Any, Any], request: BaseModel,
                   model: GuardedModel, instruction: str, previous: Verdict | None) -> Verdict | None:
        """One attempt, recorded on ``result`` with what it spent, whatever its outcome."""
        meter = _Meter(model)
        try:
            verdict = await specialist.attempt(request, model, instruction=instruction, previous=previous)
        except (BudgetExceeded, PrivacyViolation) as exc:
            result.attempts.append(meter.attempt("error", repair=previous is not None, problems=[str(exc)]))
            raise
        except Exception as exc:  # a failing model (or client bug) costs an attempt, never the run
            if not isinstance(exc, ModelError):
                log.warning("attempt.crashed", model=model.ref, error_type=type(exc).__name__)
            result.attempts.append(meter.attempt("error", repair=previous is not None, problems=[_describe(exc)]))
            return None
        outcome: AttemptOutcome = "accepted" if verdict.valid else "invalid"
        if verdict.valid and verdict.confidence < specialist.config.threshold:
            outcome = "low_confidence"
        attempt = meter.attempt(outcome, repair=previous is not None, problems=verdict.problems,
                                confidence=verdict.confidence)
        if outcome == "low_confidence" and verdict.output is not None:
            attempt.output = verdict.output.model_dump(mode="json")
        result.attempts.append(attempt)
        return verdict

    @staticmethod
    def _accept(result: StepResult, verdict: Verdict, model: GuardedModel) -> None:
        assert verdict.output is not None
        result.status = "completed"
        result.output = verdict.output.model_dump(mode="json")
        if model.calls:  # a specialist that answered without its model does not name it
            result.model = model.ref
            result.endpoint = model.endpoint
            result.local = model.local
        result.confidence = verdict.confidence
        if not result.escalated_from:
            result.escalation_reason = None

    def _tally(self, result: StepResult) -> StepResult:
        """Sum every attempt's tokens and cost onto the step, and price it on the baseline model."""
        for attempt in result.attempts:
            result.usage = result.usage + attempt.usage
            result.cost_usd += attempt.cost_usd
        if result.status == "completed":
            result.baseline_cost_usd = self.baseline_cost(result.attempts[-1].usage, result.output)
        else:  # the all-large-model run would have paid for this step's request once, too
            paid = [a for a in result.attempts if a.usage.total_tokens]
            result.baseline_cost_usd = self.baseline_cost(paid[-1].usage, None) if paid else 0.0
        return result

    def baseline_cost(self, usage: Usage, output: Any) -> float:
        """What one answer would cost on the baseline (large) model."""
        if self.baseline is None:
            return 0.0
        output_tokens = usage.output_tokens or (estimate_tokens(str(output)) if output is not None else 0)
        return self.baseline.cost(usage.input_tokens, output_tokens)


class _Meter:
    """What a model spent between its creation and :meth:`attempt`: one attempt's tokens, cost, time."""

    def __init__(self, model: GuardedModel):
        self.model = model
        self.usage, self.cost_usd, self.latency_ms = model.usage, model.cost_usd, model.latency_ms
        self.calls = model.calls
        self.started = time.perf_counter()

    def attempt(self, outcome: AttemptOutcome, *, repair: bool, problems: list[str],
                confidence: float | None = None) -> Attempt:
        model = self.model
        usage = Usage(input_tokens=model.usage.input_tokens - self.usage.input_tokens,
                      output_tokens=model.usage.output_tokens - self.usage.output_tokens)
        latency = max(model.latency_ms - self.latency_ms, 0.0) or (time.perf_counter() - self.started) * 1000
        return Attempt(model=model.ref, outcome=outcome, confidence=confidence, problems=problems, repair=repair,
                       local=model.local, usage=usage, latency_ms=latency, cost_usd=model.cost_usd - self.cost_usd,
                       calls=model.calls - self.calls)


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"


def _escalation_reason(attempt: Attempt, threshold: float) -> str:
    if attempt.outcome == "low_confidence":
        return f"confidence {attempt.confidence:.2f} below threshold {threshold:.2f} on {attempt.model}"
    if attempt.outcome == "invalid":
        return f"invalid answer after repair on {attempt.model}: {'; '.join(attempt.problems[:3])}"
    return f"{attempt.outcome} on {attempt.model}: {'; '.join(attempt.problems[:1])}"


def _failure(attempts: list[Attempt], fallback: str) -> str:
    if attempts and all(a.outcome == "skipped_not_local" for a in attempts):
        return "input is confidential and no local model is in the cascade; add a local model"
    if not attempts:
        return fallback
    last = attempts[-1]
    detail = "; ".join(last.problems[:3]) or last.outcome
    return f"no model gave an acceptable answer (last: {last.model}, {last.outcome}: {detail})"


_MOVED = {
    "Budget": "orchestrator.settings",
    "Confidential": "orchestrator.engine.guard",
    "GuardedModel": "orchestrator.engine.guard",
    "Ledger": "orchestrator.engine.guard",
    "RunGuard": "orchestrator.engine.guard",
    "ModelPool": "orchestrator.models.pool",
}


def __getattr__(name: str) -> Any:
    """Names that lived here before the guard and the pool moved out: importable, with a warning."""
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"{__name__}.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), name)


__all__ = ["Router"]
