"""The Orchestrator: the one object users hold to run tasks and workflows.

::

    async with Orchestrator() as orch:
        result = await orch.run("ticket_triage", {"ticket": text})
        print(result.answer)

        job = await orch.submit("ticket_triage", {"ticket": text})   # for workers (in-process without Redis)
        result = await job.result(timeout=60)

        async for item in orch.run_many("ticket_triage", [{"ticket": t} for t in tickets], concurrency=16):
            print(item.id, item.answer if item.ok else item.error)

    with Orchestrator() as orch:                                     # scripts and notebooks
        result = orch.run_sync("ticket_triage", {"ticket": text})
        for event in orch.stream_sync("ticket_triage", {"ticket": text}): ...
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator import telemetry
from orchestrator.engine._learning import LearningMixin
from orchestrator.engine._planner_wiring import PlannerWiring
from orchestrator.engine._results import notice_event
from orchestrator.engine._sync import Portal
from orchestrator.engine._targets import Plugin, checked_inputs, looks_like_workflow, register_plugin
from orchestrator.engine.batch import BatchConfig, BatchProgress, ItemResult, Items, run_many
from orchestrator.engine.executor import Executor, PlanSource, RunSpec
from orchestrator.engine.guard import RunGuard
from orchestrator.engine.planner import TASK, describe_inputs, refuse_confidential_task
from orchestrator.engine.registry import Registry
from orchestrator.engine.router import Router
from orchestrator.errors import ConfigError, UnknownNameError, UserError
from orchestrator.events import EventSink, FanOut, end_event, run_end_left_to_caller, silent
from orchestrator.logging import get_logger
from orchestrator.models.base import Model
from orchestrator.models.pool import ModelPool
from orchestrator.plan import Plan
from orchestrator.planning import TaskPlanning
from orchestrator.settings import Budget
from orchestrator.specialist import Specialist
from orchestrator.types import Event, RunResult, Sensitivity
from orchestrator.workflow import Workflow

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from orchestrator.evaluation import Dataset, EvalReport
    from orchestrator.queue import JobBackend, JobHandle, JobQueue
    from orchestrator.settings import Settings
    from orchestrator.store.base import Store

log = get_logger(__name__)


class Orchestrator(LearningMixin):
    """Runs workflows and free-form tasks; owns the models, registry, router and executor."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: Registry | None = None,
        models: Mapping[str, Model] | None = None,
        store: Store | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        plugins: Sequence[Plugin] = (),
    ):
        """``plugins`` registers your own specialists, tools and workflows in code, next to the
        installed ones: a Specialist *class* is built with its ``[specialists.<name>]`` table from
        the configuration (cascade, threshold, options), like an entry-point one; instances and
        Workflow objects are registered as they are."""
        if settings is None:
            from orchestrator.settings import Settings

            settings = Settings.load()
        self.settings = settings
        if registry is None:
            own = {p.name for p in plugins if isinstance(p, type) and issubclass(p, Specialist)}
            configs = {name: c for name, c in settings.specialists.items() if name not in own}
            registry = Registry.from_entry_points(configs, origin=settings.origin)
        for plugin in plugins:
            register_plugin(registry, plugin, settings)
        self.registry = registry
        self.pool = ModelPool(settings.models, models)
        self.router = Router(self.pool, default_cascade=settings.default_cascade, baseline=settings.baseline_spec())
        self._store = store
        self._checkpointer = checkpointer
        self._executor: Executor | None = None
        self._client: aioredis.Redis | None = None
        self._queue: JobQueue | None = None
        self._jobs: JobBackend | None = None
        self._owned: list[Any] = []
        self._portal = Portal()
        tiers = TaskPlanning(settings, registry, self.pool, redis=lambda: self._redis("the plan cache"))
        self._wiring = PlannerWiring(settings, registry, self.pool, tiers)

    @property
    def planning(self) -> TaskPlanning:
        """The task router and plan cache in front of the planner (:mod:`orchestrator.planning`)."""
        return self._wiring.planning

    @planning.setter
    def planning(self, planning: TaskPlanning) -> None:
        self._wiring.planning = planning

    async def __aenter__(self) -> Orchestrator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- wiring (lazy: Redis connects on first use) ------------------------------

    async def _ensure(self) -> Executor:
        if self._executor is None:
            if self.settings.redis_url and (self._store is None or self._checkpointer is None):
                self._connect_redis()
            self._executor = Executor(self.registry, self.router, checkpointer=self._checkpointer,
                                      settings=self.settings.executor)
            if self.settings.learning.enabled:
                self._executor.observer = self.learning.collector
        return self._executor

    def _connect_redis(self) -> None:
        from datetime import timedelta

        from orchestrator.store import RedisStore
        from orchestrator.store.checkpoint import RedisCheckpointer

        client, keys = self._redis("the run store"), self.settings.keyspace
        if self._store is None:
            self._store = RedisStore.from_settings(client, keys, self.settings)
        if self._checkpointer is None:
            ttl = timedelta(seconds=self.settings.queue.checkpoint_ttl)
            self._checkpointer = RedisCheckpointer(client, keys=keys, ttl=ttl)

    def _redis(self, purpose: str) -> aioredis.Redis:
        """The deployment's Redis client, shared by store, checkpointer and queue (connects lazily)."""
        if self._client is None:
            from orchestrator.redis.connection import connect_settings

            self._client = connect_settings(self.settings, purpose)
            self._owned.append(self._client)
        return self._client

    @property
    def store(self) -> Store | None:
        return self._store

    async def aclose(self) -> None:
        await self._drain_learning()
        await self.pool.aclose()
        if self._jobs is not None and self._jobs is not self._queue:
            await self._jobs.aclose()
        self._jobs = None
        if self._queue is not None:
            await self._queue.aclose()
            self._queue = None
        for resource in self._owned:
            await resource.aclose()
        self._owned.clear()

    # -- running ------------------------------------------------------------------

    async def run(
        self,
        target: str | Plan | Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        sensitivity: Mapping[str, Sensitivity | str] | None = None,
        events: EventSink | None = None,
        budget: Budget | None = None,
    ) -> RunResult:
        """Run a workflow (by name, or a :class:`~orchestrator.workflow.Workflow` object), a Plan,
        or a free-form task; resume if ``run_id`` is known. A Workflow object runs as it is, without
        being registered (to queue it for workers, register it and submit its name).

        ``sensitivity`` marks inputs ``public``, ``internal`` or ``confidential``; unmarked
        inputs take the workflow's declared level or the deployment default.
        """
        executor = await self._ensure()
        decision = None
        if self._wiring.plans(target):  # a free-form task: the router, the plan cache or the planner
            decision = await self._wiring.decide(str(target), inputs, self.check_task(target, sensitivity))
        if decision is not None and decision.tier == "router":  # a shipped workflow fits the task
            target, inputs = str(decision.workflow), decision.inputs
        values, make_plan = self._prepare(target, checked_inputs(target, inputs))
        levels = self._levels(target, values, sensitivity or {})
        task_level = self.check_task(target, sensitivity) if make_plan is None else None
        guard = RunGuard()
        guard.ledger.budget = budget or Budget.model_validate(self.settings.budget.model_dump())
        for name, value in values.items():
            if levels[name] is Sensitivity.CONFIDENTIAL:
                guard.confidential.add(value)
        if task_level is Sensitivity.CONFIDENTIAL:  # only a local planner may read it; no other model
            guard.confidential.add(str(target))
        if self.settings.redact_for_remote:
            guard.redact = self.registry.redactor()
        sinks: list[EventSink] = [s for s in (self._store, events) if s is not None]
        spec = RunSpec(run_id=run_id or uuid.uuid4().hex, inputs=values, sensitivity=levels,
                       sink=FanOut(sinks), guard=guard, baseline_model=self.router.baseline.ref
                       if self.router.baseline else None, fresh=run_id is None,
                       planned_by=decision.tier if decision else "plan" if isinstance(target, Plan) else "workflow")
        guard.notices = lambda change, step_id: spec.sink.emit(notice_event(spec.run_id, step_id, change))
        if make_plan is None:  # a free-form task: a cached plan or the planner
            self._wiring.attach(spec, str(target), values, levels, decision)
        else:
            spec.make_plan = make_plan
        if self._store is not None:
            await self._store.save_run(RunResult(run_id=spec.run_id, status="running"))
        with telemetry.run_span(spec.run_id, target, planned=make_plan is None) as span:
            result = await executor.execute(spec)
            telemetry.record_run(span, result)
        if decision is not None:  # cache a planned run's plan; drop a failed cached one
            await self.planning.settle(decision, result, values, secrets=guard.confidential.values)
        if self._store is not None:
            await self._store.save_run(result)
        if not run_end_left_to_caller() and not silent(spec.sink):  # the record is saved: its end may be seen now
            await _emit_end(spec.sink, result)
        return result

    def run_many(
        self,
        target: str,
        items: Items,
        *,
        concurrency: int = 8,
        skip: Collection[str] = (),
        sensitivity: Mapping[str, Sensitivity | str] | None = None,
        total: int | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
    ) -> AsyncIterator[ItemResult]:
        """Run ``target`` once per item (input mappings, or :class:`~orchestrator.engine.batch.BatchItem`),
        ``concurrency`` at a time, and yield each :class:`~orchestrator.engine.batch.ItemResult` as it ends.

        A failing item is yielded with its reason and the batch goes on; ``skip`` names item ids
        not to run (done before); ``on_progress`` gets the running totals after each item.
        See :mod:`orchestrator.engine.batch`.
        """
        config = BatchConfig(concurrency=concurrency, skip=skip, sensitivity=sensitivity, total=total,
                             on_progress=on_progress)
        return run_many(self, target, items, config)

    async def evaluate(self, target: str | Workflow, dataset: Dataset, *,
                       expect: Sequence[str] | Mapping[str, str], **options: Any) -> EvalReport:
        """Run ``target`` (a workflow, or one specialist by name) over labelled ``dataset`` (a
        ``.jsonl``/``.csv`` path or rows) and score the ``expect`` ed answer fields
        (``["category=label"]``). ``options`` are those of :class:`~orchestrator.evaluation.EvalOptions`
        (``inputs``, ``params``, ``concurrency``, ``target_accuracy`` ...). See :mod:`orchestrator.evaluation`.
        """
        from orchestrator.evaluation import EvalOptions, evaluate

        return await evaluate(self, target, dataset, EvalOptions(expect=expect, **options))

    # -- the blocking twins, for scripts and notebooks ------------------------------------

    def evaluate_sync(self, target: str | Workflow, dataset: Dataset, *,
                      expect: Sequence[str] | Mapping[str, str], **options: Any) -> EvalReport:
        """:meth:`evaluate`, blocking."""
        return self._portal.call(self.evaluate(target, dataset, expect=expect, **options))

    def run_sync(self, target: str | Plan | Workflow, inputs: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> RunResult:
        """:meth:`run`, blocking. Runs on this object's helper loop, so it works inside a running
        event loop too (Jupyter). Use either the sync or the async methods on one Orchestrator."""
        return self._portal.call(self.run(target, inputs, **kwargs))

    def stream_sync(self, target: str | Plan | Workflow, inputs: Mapping[str, Any] | None = None,
                    **kwargs: Any) -> Iterator[Event]:
        """:meth:`stream`, as a blocking iterator of events; leaving it early cancels the run."""
        return self._portal.iterate(self.stream(target, inputs, **kwargs))

    def plan_sync(self, task: str, inputs: Mapping[str, Any] | None = None,
                  sensitivity: Mapping[str, Sensitivity | str] | None = None) -> Plan:
        """:meth:`plan`, blocking."""
        return self._portal.call(self.plan(task, inputs, sensitivity))

    def close(self) -> None:
        """:meth:`aclose`, blocking, and stop the helper thread of the sync methods."""
        try:
            self._portal.call(self.aclose())
        finally:
            self._portal.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the job queue --------------------------------------------------------------

    @property
    def queue(self) -> JobQueue:
        """The deployment's Redis job queue (``redis_url``), e.g. for a worker; ConfigError without Redis."""
        if self._queue is None:
            from orchestrator.queue import JobQueue

            client = self._redis("submitting jobs")
            self._queue = JobQueue(client, self.settings.keyspace, self.settings.queue)
        return self._queue

    @property
    def jobs(self) -> JobBackend:
        """Where :meth:`submit` sends jobs: the Redis queue, or without Redis this process
        (:class:`~orchestrator.queue.MemoryJobs`, up to ``queue.worker_concurrency`` at once)."""
        if self._jobs is None:
            from orchestrator.queue import MemoryJobs

            self._jobs = self.queue if self.settings.redis_url else MemoryJobs(self, settings=self.settings.queue)
        return self._jobs

    async def submit(
        self,
        target: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        sensitivity: Mapping[str, Sensitivity | str] | None = None,
        idempotency_key: str | None = None,
    ) -> JobHandle:
        """Queue a workflow or task for the workers; ``await handle.result()`` waits for its run.

        Without Redis the job runs in this process (see :attr:`jobs`). What could never run
        (an unknown workflow, inputs it rejects, a task without a planner) is refused here, as
        :meth:`run` would refuse it. The same
        ``idempotency_key`` returns the same job; reused with other inputs it raises
        :class:`~orchestrator.queue.IdempotencyConflict`.
        """
        queue = self.jobs
        values, given = self.check_submission(target, inputs, sensitivity)
        job_id = await queue.submit(target, values, sensitivity=given or None, idempotency_key=idempotency_key)
        return queue.handle(job_id)

    def check_submission(
        self,
        target: str,
        inputs: Mapping[str, Any] | None = None,
        sensitivity: Mapping[str, Sensitivity | str] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Sensitivity]]:
        """What :meth:`submit` queues: the checked inputs and the sensitivity levels given.

        Raises what :meth:`run` would raise for a job that could never run (an unknown
        workflow, inputs the workflow rejects, a task without a planner, a bad level), so
        whoever queues jobs (this object, the CLI) refuses them before a worker sees them.
        """
        if isinstance(target, Workflow):  # workers find workflows by name, in their own registry
            raise UserError(f"a Workflow object cannot be queued: workers look workflows up by name. Register "
                            f"it (Registry.add_workflow, or the 'orchestrator.workflows' entry point) and submit "
                            f"{target.name!r}; or run it here with run()")
        values = checked_inputs(target, inputs)
        self._prepare(target, dict(values))
        self.check_task(target, sensitivity)
        levels = self._levels(target, values, sensitivity or {})
        return values, {name: levels[name] for name in sensitivity or {}}

    def job(self, job_id: str) -> JobHandle:
        """A handle on a job submitted earlier (here, or on Redis by another process)."""
        return self.jobs.handle(job_id)

    async def stream(self, target: str | Plan | Workflow, inputs: Mapping[str, Any] | None = None,
                     **kwargs: Any) -> AsyncIterator[Event]:
        """Run and yield each event as it happens; the last one is ``run.finished``/``run.failed``."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        class _Push:
            async def emit(self, event: Event) -> None:
                queue.put_nowait(event)

        async def go() -> RunResult:
            try:
                return await self.run(target, inputs, events=_Push(), **kwargs)
            finally:
                queue.put_nowait(None)

        runner = asyncio.create_task(go())
        try:
            while (event := await queue.get()) is not None:
                yield event
            await runner
        finally:
            if not runner.done():
                runner.cancel()

    async def plan(self, task: str, inputs: Mapping[str, Any] | None = None,
                   sensitivity: Mapping[str, Sensitivity | str] | None = None) -> Plan:
        """Only plan (no execution): what the planner would run for ``task``."""
        values = dict(inputs or {})
        self.check_task(task, sensitivity, planned=True)
        planner = self._wiring.planner(RunGuard(), Sensitivity.PUBLIC)
        return await planner.plan(task, describe_inputs(values, self._levels(task, values, sensitivity or {})))

    def check_task(self, target: str | Plan | Workflow, sensitivity: Mapping[str, Sensitivity | str] | None = None,
                   *, planned: bool | None = None) -> Sensitivity | None:
        """The sensitivity of a free-form task's own text (None for workflows and plans).

        The text takes ``sensitivity["task"]``, else ``default_sensitivity``. Confidential text
        is refused (:class:`~orchestrator.errors.ConfigError`, saying what to do) unless the
        planner model is local: the planner must read the task to plan it.
        """
        if planned is None:
            planned = isinstance(target, str) and target not in self.registry.workflow_names
        if not planned or not isinstance(target, str):
            return None
        given = (sensitivity or {}).get(TASK, self.settings.default_sensitivity)
        try:
            level = Sensitivity(given)
        except ValueError:
            raise UserError(f"sensitivity of {TASK!r} must be public, internal or confidential, "
                            f"not {given!r}") from None
        spec = self.settings.planner_spec()
        if level is Sensitivity.CONFIDENTIAL and spec is not None and not spec.is_local:
            refuse_confidential_task(spec.ref, given=TASK in (sensitivity or {}),
                                     workflows=self.registry.workflow_names)
        return level

    # -- helpers ----------------------------------------------------------------------

    def _workflow(self, target: str | Plan | Workflow) -> Workflow | None:
        """The workflow ``target`` names (or is); None for a Plan or a free-form task."""
        if isinstance(target, Workflow):
            return target
        if isinstance(target, str) and target in self.registry.workflow_names:
            return self.registry.workflow(target)
        return None

    def _prepare(self, target: str | Plan | Workflow,
                 values: dict[str, Any]) -> tuple[dict[str, Any], PlanSource | None]:
        """The run's inputs and how to get its plan; ``None`` means: ask the planner."""
        if isinstance(target, Plan):
            plan = target

            async def fixed() -> Plan:
                return plan

            return values, fixed
        workflow = self._workflow(target)
        if workflow is not None:
            bound = workflow.bind(values)
            catalog = self.registry.agent_names

            async def compiled() -> Plan:
                return workflow.compile(catalog)

            return bound, compiled
        assert isinstance(target, str)  # a Plan or a Workflow object returned above
        if not target.strip():
            raise UserError("nothing to run: give a workflow name or a task")
        if looks_like_workflow(target, self.registry.workflow_names):  # a mistyped name, not a task
            raise UnknownNameError("workflow", target, self.registry.workflow_names)
        if self.settings.planner_spec() is None and not self.planning.router_available:
            raise ConfigError(
                "free-form tasks need a planner model: set [planner] model in orchestrator.toml "
                '(e.g. model = "openai:gpt-4o-mini") or ORCHESTRATOR_PLANNER__MODEL, or run a workflow: '
                + ", ".join(self.registry.workflow_names), key="planner.model")
        return values, None

    def _levels(self, target: str | Plan | Workflow, values: Mapping[str, Any],
                given: Mapping[str, Sensitivity | str]) -> dict[str, Sensitivity]:
        declared: dict[str, Sensitivity] = {}
        if (workflow := self._workflow(target)) is not None:
            for name, spec in workflow.inputs.items():
                if spec.sensitivity is not None:
                    declared[name] = spec.sensitivity
        default = Sensitivity(self.settings.default_sensitivity)
        levels = {name: declared.get(name, default) for name in values}
        for name, level in given.items():
            try:
                levels[name] = Sensitivity(level)
            except ValueError:
                raise UserError(f"sensitivity of {name!r} must be public, internal or confidential, "
                                f"not {level!r}") from None
        return levels


async def _emit_end(sink: EventSink, result: RunResult) -> None:
    """Close the run's event stream (best effort, as every event: a broken UI must not break the run)."""
    try:
        await sink.emit(end_event(result))
    except Exception as exc:
        log.warning("event.emit_failed", event_type="run end", error=str(exc))


__all__ = ["Orchestrator", "Plugin"]
