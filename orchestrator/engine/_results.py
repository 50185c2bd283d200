"""Step and run results as the executor assembles them: failures, fan-out totals, the answer, events.

Pure functions of plans and :class:`~orchestrator.types.StepResult` objects, no execution state:
a failed step's result, a result handed back by a checkpoint, one result gathered from a fan-out's
items, whether a failure was the budget's, a run's answer read from its plan's answer references,
the data a ``step.finished``/``step.failed`` event carries, and a model notice as a run event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.models.base import Usage
from orchestrator.models.notices import ReplicaChange
from orchestrator.plan import Plan, Step, resolve
from orchestrator.types import Event, RunStatus, Sensitivity, StepResult


def failed_result(step: Step, reason: str) -> StepResult:
    return StepResult(step_id=step.id, agent=step.agent, status="failed", error=reason)


def as_result(data: Any) -> StepResult:
    """A task's StepResult (a checkpoint may hand it back as plain data)."""
    return data if isinstance(data, StepResult) else StepResult.model_validate(data)


def gathered(step: Step, items: list[StepResult]) -> StepResult:
    """A fan-out's one result: item outputs in order, costs summed, the first failed item named."""
    failed = [(position, r) for position, r in enumerate(items) if r.status != "completed"]
    confidences = [c for r in items if (c := r.confidence) is not None]
    reasons = [r.escalation_reason for r in items if r.escalation_reason]
    result = StepResult(
        step_id=step.id, agent=step.agent, status="failed" if failed else "completed",
        output=None if failed else [r.output for r in items],
        model=", ".join(dict.fromkeys(r.model for r in items if r.model)) or None,
        local=all(r.local for r in items), confidence=min(confidences, default=None),
        attempts=[a for r in items for a in r.attempts],
        escalated_from=list(dict.fromkeys(m for r in items for m in r.escalated_from)),
        escalation_reason="budget" if "budget" in reasons else next(iter(reasons), None),
        usage=sum((r.usage for r in items), Usage()), cost_usd=sum(r.cost_usd for r in items),
        baseline_cost_usd=sum(r.baseline_cost_usd for r in items),
    )
    if failed:
        position, first = failed[0]
        result.error = f"{len(failed)} of {len(items)} items failed; item {position} (from 0): {first.error}"
    return result


def budget_failure(failed: list[StepResult]) -> bool:
    return any(s.escalation_reason == "budget" for s in failed)


def run_status(results: list[StepResult]) -> RunStatus:
    """A phase's outcome from its step results."""
    if budget_failure([r for r in results if r.status == "failed"]):
        return "budget_exceeded"
    return "completed" if all(r.status == "completed" for r in results) else "failed"


def sensitivities(plan: Plan, inputs: Mapping[str, Sensitivity]) -> dict[str, Sensitivity]:
    """A step is as sensitive as the most sensitive input or step it reads, transitively."""
    levels: dict[str, Sensitivity] = {}
    for step in plan.topological_order():
        sources = [inputs.get(name, Sensitivity.INTERNAL) for name in step.input_names]
        sources += [levels[dep] for dep in step.depends_on]
        levels[step.id] = Sensitivity.highest(sources)
    return levels


def answer_of(plan: Plan, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for name, ref in plan.answer_refs().items():
        try:
            answer[name] = resolve(ref, inputs, outputs)
        except KeyError:
            answer[name] = None
    return answer


def step_event(result: StepResult) -> dict[str, Any]:
    return {
        "agent": result.agent, "status": result.status, "model": result.model, "local": result.local,
        "latency_ms": round(result.latency_ms, 1), "load_ms": round(result.load_ms, 1), "cost_usd": result.cost_usd,
        "confidence": result.confidence, "escalated_from": result.escalated_from,
        "attempts": len(result.attempts), "error": result.error, "output": result.output,
        **({"endpoint": result.endpoint} if result.endpoint else {}),  # the replica that answered
    }


def notice_event(run_id: str, step_id: str | None, change: ReplicaChange) -> Event:
    """A replica change seen by a call of the run (of ``step_id``, or the planner's) as its event."""
    return Event(type=change.kind, run_id=run_id, step_id=step_id, data=change.data())


__all__ = ["answer_of", "as_result", "budget_failure", "failed_result", "gathered", "notice_event", "run_status",
           "sensitivities", "step_event"]
