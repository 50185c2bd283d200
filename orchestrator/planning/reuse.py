"""Running a cached plan: reuse it, and if it fails, let the planner plan once afresh.

The fallback is the executor's replan hook: after a failed step the planner model (when one is
configured) makes a new plan from scratch, the run's tier becomes ``planner``, and when that
plan succeeds it replaces the cache entry.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine.executor import RunSpec
from orchestrator.engine.guard import GuardedModel
from orchestrator.engine.planner import Planner
from orchestrator.errors import BudgetExceeded
from orchestrator.logging import get_logger
from orchestrator.plan import Plan

log = get_logger(__name__)

__all__ = ["reuse_plan"]


def reuse_plan(spec: RunSpec, cached: Plan, planner: Planner | None, task: str,
               described: list[dict[str, Any]]) -> None:
    """Make ``spec`` run ``cached``, falling back to ``planner`` (if any) once when it fails."""
    async def reuse() -> Plan:
        return cached

    spec.make_plan = reuse
    if planner is None:
        return
    model = planner.model
    assert isinstance(model, GuardedModel)

    async def fall_back(previous: Plan, results: list[Any]) -> Plan | None:
        try:
            fresh = await planner.plan(task, described)
        except BudgetExceeded:
            raise  # the run ends budget_exceeded, not failed
        except Exception as exc:
            log.warning("planning.fallback_failed", error=str(exc))
            return None
        spec.planned_by = "planner"  # the run's plan is now the planner's; it replaces the entry
        return fresh

    spec.replan = fall_back
    spec.planner_cost = lambda: model.cost_usd
    spec.planner_usage = lambda: model.usage
