"""Which tier plans a free-form task: the router, the plan cache, or the planner model.

:meth:`TaskPlanning.decide` tries, in order:

1. ``router``: the task's request matches a workflow above the calibrated threshold, and the
   run inputs bind to it (:func:`~orchestrator.planning.binding.bind_request`);
2. ``cache``: a plan template stored after an earlier successful planned run, with the same
   request keywords, input names and types and catalog version, or a guarded near match
   (:meth:`TaskPlanning._near`: the same intent words, most keywords shared, close embeddings);
3. ``planner``: the planner model, when one is configured; with none, a
   :class:`~orchestrator.errors.ConfigError` naming the closest workflows and their scores.

After a planned run succeeds, :meth:`TaskPlanning.remember` stores its plan, unless the task
text is confidential or the plan holds a literal piece of the run's data (such a plan fits
only this request).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, MissingDependency, ModelError
from orchestrator.logging import get_logger
from orchestrator.models.pool import ModelPool
from orchestrator.plan import Plan
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
from orchestrator.planning.keywords import INTENT_TERMS, split_request
from orchestrator.planning.router import Route, WorkflowRouter
from orchestrator.types import PlannedBy, RunResult

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from orchestrator.engine.registry import Registry
    from orchestrator.settings import Settings

log = get_logger(__name__)

__all__ = ["NEAR_COSINE", "NEAR_OVERLAP", "Decision", "TaskPlanning"]

NEAR_OVERLAP = 0.5
"""Least share of keywords (Jaccard) a paraphrase must share with a cached request to reuse its plan."""
NEAR_COSINE = 0.75
"""Least cosine between the two keyword sets' embeddings (when the router's embedder is there)."""
_LITERAL_CHARS = 12
"""Input text at least this long found verbatim in a plan makes the plan specific to this run."""


@dataclass
class Decision:
    """How one task will be planned."""

    tier: PlannedBy
    request: str
    """The task's request part (the payload after ``triage this:`` removed)."""
    payload: str | None = None
    workflow: str | None = None
    inputs: dict[str, Any] | None = None
    """The routed workflow's bound inputs."""
    plan: Plan | None = None
    """The cached plan (tier ``cache``)."""
    key: PlanKey | None = None
    route: Route | None = None


class TaskPlanning:
    """The router and the plan cache of one deployment."""

    def __init__(self, settings: Settings, registry: Registry, pool: ModelPool,
                 redis: Callable[[], aioredis.Redis] | None = None, cache: PlanCache | None = None):
        self.settings, self.registry, self.pool = settings, registry, pool
        self._redis = redis
        self._cache = cache
        self._router: WorkflowRouter | None = None

    @property
    def router_available(self) -> bool:
        """Whether the router can run: enabled, with its embedding model configured."""
        return self.settings.planner.router and self.settings.planner.router_model in self.pool.names

    def router(self) -> WorkflowRouter | None:
        if not self.router_available:
            return None
        workflows = self.registry.workflows()
        if self._router is None or [w.name for w in self._router.workflows] != [w.name for w in workflows]:
            embedder: Any = self.pool.client(self.settings.planner.router_model)
            self._router = WorkflowRouter(workflows, embedder, self.settings.planner.router_threshold)
        return self._router

    @property
    def cache(self) -> PlanCache | None:
        """The plan cache (Redis when the deployment has one), None when disabled."""
        if not self.settings.planner.cache:
            return None
        if self._cache is None:
            planner = self.settings.planner
            if self.settings.redis_url and self._redis is not None:
                self._cache = RedisPlanCache(self._redis(), self.settings.keyspace, ttl=planner.cache_ttl,
                                             max_entries=planner.cache_size)
            else:
                self._cache = MemoryPlanCache(planner.cache_size)
        return self._cache

    @property
    def catalog(self) -> str:
        return catalog_version(self.registry.catalog())

    def key(self, request: str, values: Mapping[str, Any]) -> PlanKey:
        return plan_key(request, {k: v for k, v in values.items() if k not in CONTEXT_INPUTS}, self.catalog)

    async def decide(self, task: str, values: Mapping[str, Any], *, confidential: bool = False) -> Decision:
        """The tier that plans ``task`` (see the module docstring); raises when none can."""
        request, payload = split_request(task)
        route: Route | None = None
        router = self.router()
        local = router is not None and self.pool.spec(self.settings.planner.router_model).is_local
        if router is not None and (local or not confidential):
            route = await self._route(router, request)
            if route is not None and route.workflow is not None:
                workflow = self.registry.workflow(route.workflow)
                bound = bind_request(workflow, values, payload, task)
                log.info("planning.routed", workflow=route.workflow, score=round(route.candidates[0].score, 3))
                return Decision("router", request, payload, route.workflow, bound, route=route)
        key = None if confidential else self.key(request, values)
        cache = self.cache
        if key is not None and cache is not None:
            entry = await cache.get(key.key) or await self._near(cache, key, router)
            if entry is not None:
                log.info("planning.cache_hit", key=key.key)
                return Decision("cache", request, payload, plan=Plan.model_validate(entry.plan), key=key, route=route)
        if self.settings.planner_spec() is None:
            closest = route.closest() if route is not None else "the router is off"
            raise ConfigError(
                f"no workflow fits this task well enough (closest: {closest}; a workflow runs from a score of "
                f"{self.settings.planner.router_threshold:.2f}) and no planner model is configured to plan it. "
                "Run a workflow by name (" + ", ".join(self.registry.workflow_names) + "), reword the request, "
                'or set [planner] model in orchestrator.toml (e.g. model = "ollama:qwen2.5:7b") or '
                "ORCHESTRATOR_PLANNER__MODEL: free-form tasks need a planner model when nothing local fits",
                key="planner.model")
        return Decision("planner", request, payload, key=key, route=route)

    async def settle(self, decision: Decision, result: RunResult, values: Mapping[str, Any],
                     secrets: Iterable[str] = ()) -> None:
        """After a run: cache a planned run's plan; drop a cached plan that failed with no planner."""
        if result.ok:
            await self.remember(decision, result, values, secrets)
        elif decision.tier == "cache" and result.planned_by == "cache":
            await self.forget(decision)

    async def _near(self, cache: PlanCache, key: PlanKey, router: WorkflowRouter | None) -> CacheEntry | None:
        """A cached plan for a paraphrase: same inputs and catalog, the same intent words (another
        output or document type never matches), most keywords shared and, with an embedder, close
        in meaning. None when no entry passes all of them."""
        words = set(key.keywords)
        intents = words & INTENT_TERMS
        if not intents:
            return None  # nothing says what the request asks for: exact matches only
        scored = []
        for entry in await cache.family(key.family):
            theirs = set(entry.keywords)
            overlap = len(words & theirs) / len(words | theirs)
            if theirs & INTENT_TERMS == intents and overlap >= NEAR_OVERLAP:
                scored.append((overlap, entry))
        if not scored:
            return None
        overlap, best = max(scored, key=lambda pair: pair[0])
        if router is not None:
            mine, theirs_vector = await router.embedder.embed([" ".join(key.keywords), " ".join(best.keywords)])
            if sum(a * b for a, b in zip(mine, theirs_vector, strict=False)) < NEAR_COSINE:
                return None
        log.info("planning.cache_near", key=best.key, overlap=round(overlap, 2))
        return await cache.get(best.key)

    async def _route(self, router: WorkflowRouter, request: str) -> Route | None:
        """The router's verdict; None when its embedder fails (the planner may still plan the task)."""
        try:
            return await router.route(request)
        except (ModelError, MissingDependency) as exc:
            if self.settings.planner_spec() is None:
                raise
            log.warning("planning.router_failed", error=str(exc))
            return None

    async def remember(self, decision: Decision, result: RunResult, values: Mapping[str, Any],
                       secrets: Iterable[str] = ()) -> bool:
        """Store the plan of a successful planned run as a template; False when it may not be reused."""
        cache = self.cache
        if cache is None or decision.key is None or result.plan is None or not result.ok:
            return False
        if result.planned_by != "planner":
            return False
        text = json.dumps(result.plan, default=str)
        literals = [v for v in (*values.values(), *secrets, decision.payload or "")
                    if isinstance(v, str) and len(v) >= _LITERAL_CHARS]
        if any(v in text for v in literals):
            log.info("planning.not_cached", reason="the plan holds run data")
            return False
        await cache.put(CacheEntry.make(decision.key, result.plan))
        log.info("planning.cached", key=decision.key.key, replaced=decision.tier == "cache")
        return True

    async def forget(self, decision: Decision) -> None:
        """Drop a cached plan that failed when no planner could replace it."""
        if self.cache is not None and decision.key is not None:
            await self.cache.delete(decision.key.key)
