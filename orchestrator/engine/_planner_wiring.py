"""How a free-form run gets its plan: the planning tiers' decision, the planner model, replanning.

:class:`PlannerWiring` is the Orchestrator's part that turns "plan this task" into a run's plan
source: it asks the tiers (:mod:`orchestrator.planning`: the task router, the plan cache) first,
reuses a cached plan with the planner as its fallback, and otherwise wires the planner model
(guarded, at public level: it reads input descriptions, never confidential content) into the
run's :class:`~orchestrator.engine.executor.RunSpec`, with replanning when configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.engine._targets import looks_like_workflow
from orchestrator.engine.guard import GuardedModel, RunGuard
from orchestrator.engine.planner import Planner, describe_inputs
from orchestrator.errors import BudgetExceeded, ConfigError
from orchestrator.logging import get_logger
from orchestrator.plan import Plan
from orchestrator.planning import Decision, TaskPlanning
from orchestrator.planning.reuse import reuse_plan
from orchestrator.types import Sensitivity
from orchestrator.workflow import Workflow

if TYPE_CHECKING:
    from orchestrator.engine.executor import RunSpec
    from orchestrator.engine.registry import Registry
    from orchestrator.models.pool import ModelPool
    from orchestrator.settings import Settings

log = get_logger(__name__)


class PlannerWiring:
    """The planner model and the planning tiers of one Orchestrator."""

    def __init__(self, settings: Settings, registry: Registry, pool: ModelPool, planning: TaskPlanning):
        self.settings = settings
        self.registry = registry
        self.pool = pool
        self.planning = planning

    def planner(self, guard: RunGuard, sensitivity: Sensitivity) -> Planner:
        """The configured planner model, guarded for this run; ConfigError when none is."""
        spec = self.settings.planner_spec()
        if spec is None:
            raise ConfigError("no planner model configured", key="planner.model")
        model = GuardedModel(spec.name, self.pool, guard, sensitivity=sensitivity, step_id="plan")
        return Planner(model, self.registry.catalog(), self.settings.planner)

    def plans(self, target: str | Plan | Workflow) -> bool:
        """Whether ``target`` is a free-form task some tier can plan (not a workflow, a plan, a
        mistyped workflow name or blank text: for those the Orchestrator explains)."""
        names = self.registry.workflow_names
        return (isinstance(target, str) and target not in names and bool(target.strip())
                and not looks_like_workflow(target, names)
                and (self.settings.planner_spec() is not None or self.planning.router_available))

    async def decide(self, task: str, inputs: Mapping[str, Any] | None, level: Sensitivity | None) -> Decision:
        """The tier that plans ``task`` (``level`` is the task text's own sensitivity)."""
        return await self.planning.decide(task, dict(inputs or {}), confidential=level is Sensitivity.CONFIDENTIAL)

    def attach(self, spec: RunSpec, task: str, values: Mapping[str, Any],
               levels: Mapping[str, Sensitivity], decision: Decision | None = None) -> None:
        """Give ``spec`` its plan source: ``decision``'s cached plan (the planner if it fails), else the planner."""
        if decision is not None and decision.plan is not None:  # a cached plan; the planner if it fails
            has = self.settings.planner_spec() is not None
            reuse_plan(spec, decision.plan, self.planner(spec.guard, Sensitivity.PUBLIC) if has else None,
                       task, describe_inputs(values, levels))
            return
        # The planner sees descriptions, never confidential content: it plans at "public" level,
        # and the guard still scans every outgoing request for confidential values.
        planner = self.planner(spec.guard, Sensitivity.PUBLIC)
        described = describe_inputs(values, levels)
        model = planner.model
        assert isinstance(model, GuardedModel)

        async def make_plan() -> Plan:
            return await planner.plan(task, described)

        async def replan(previous: Plan, results: list[Any]) -> Plan | None:
            try:
                return await planner.replan(task, described, previous, results)
            except BudgetExceeded:
                raise  # the run ends budget_exceeded, not failed
            except Exception as exc:
                log.warning("planner.replan_failed", error=str(exc))
                return None

        spec.make_plan = make_plan
        if self.settings.planner.replan:
            spec.replan = replan
        spec.planner_model = model.ref
        spec.planner_cost = lambda: model.cost_usd
        spec.planner_usage = lambda: model.usage


__all__ = ["PlannerWiring"]
