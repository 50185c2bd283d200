"""Planning that pays for itself: a local task router and a plan cache in front of the planner.

A free-form task goes to the first tier that can plan it: ``router`` (a shipped workflow that
fits, matched by the local embedder and keywords), ``cache`` (the plan of an earlier
successful run of the same request), else ``planner`` (the large model). Every run records
its tier in :attr:`~orchestrator.types.RunResult.planned_by`.
"""

from orchestrator.planning.binding import CONTEXT_INPUTS, bind_request
from orchestrator.planning.cache import (
    CacheEntry,
    MemoryPlanCache,
    PlanCache,
    PlanKey,
    RedisPlanCache,
    catalog_version,
    plan_key,
)
from orchestrator.planning.keywords import INTENT_TERMS, keywords, split_request
from orchestrator.planning.router import Candidate, Embedder, Route, WorkflowRouter, calibrate, workflow_texts
from orchestrator.planning.tiers import Decision, TaskPlanning

__all__ = ["CONTEXT_INPUTS", "INTENT_TERMS", "CacheEntry", "Candidate", "Decision", "Embedder", "MemoryPlanCache",
           "PlanCache", "PlanKey", "RedisPlanCache", "Route", "TaskPlanning", "WorkflowRouter", "bind_request",
           "calibrate", "catalog_version", "keywords", "plan_key", "split_request", "workflow_texts"]
