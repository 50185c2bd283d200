"""Where submitted jobs run: the Redis queue, or background tasks of the server itself.

Both satisfy :class:`JobBackend`, so the routes never ask which one they have:

* :class:`QueueJobs` puts jobs on the :class:`~orchestrator.queue.JobQueue`; workers (other
  processes, or ``serve --with-worker N``) run them and write events to Redis.
* :class:`LocalJobs` runs each job as an asyncio task owned by the app, with events in a
  :class:`~orchestrator.store.MemoryStore` (or the orchestrator's own store).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from orchestrator.errors import ConfigError, IdempotencyConflict, JobError, UnknownNameError
from orchestrator.interfaces.chat import no_planner_message
from orchestrator.queue import Job, JobQueue
from orchestrator.store import MemoryStore, Store
from orchestrator.types import Event, RunResult, Sensitivity

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.settings import Settings

log = structlog.get_logger(__name__)

_PROBE_RUN = "__healthz__"
SETTLE_SECONDS = 10.0
"""How long :func:`settled` waits, by default, for a job's record to say it finished."""


class JobBackend(Protocol):
    """Submit, inspect, follow and cancel jobs. Unknown ids raise :class:`JobError`."""

    name: str
    """``redis`` or ``memory``, for ``/healthz``."""

    @property
    def store(self) -> Store:
        """Where the jobs' runs and events live (and the chat threads kept beside them)."""
        ...

    async def submit(self, target: str, inputs: Mapping[str, Any], *,
                     sensitivity: Mapping[str, Sensitivity] | None = None,
                     idempotency_key: str | None = None) -> str: ...

    async def status(self, job_id: str) -> Job: ...

    async def result(self, job_id: str) -> RunResult | None:
        """The run record of a job (``None`` before it starts)."""
        ...

    async def cancel(self, job_id: str) -> Job: ...

    def events(self, job_id: str, *, after: str | None = None, follow: bool = False,
               timeout: float | None = None) -> AsyncIterator[tuple[str, Event]]: ...

    async def ping(self) -> None:
        """Raise :class:`~orchestrator.errors.StoreError` if the backing store is unreachable."""
        ...

    async def aclose(self) -> None: ...


def check_target(orchestrator: Orchestrator, target: str, inputs: Mapping[str, Any]) -> None:
    """Reject what could never run, before it is queued: unknown workflows, bad inputs, no planner."""
    registry = orchestrator.registry
    if target in registry.workflow_names:
        registry.workflow(target).bind(inputs)
        return
    if orchestrator.settings.planner_spec() is None:
        if " " not in target.strip():
            raise UnknownNameError("workflow", target, registry.workflow_names)
        raise ConfigError(no_planner_message(registry), key="planner.model")


class QueueJobs:
    """Jobs on the Redis queue."""

    name = "redis"

    def __init__(self, queue: JobQueue):
        self.queue = queue

    @property
    def store(self) -> Store:
        return self.queue.store

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueJobs:
        return cls(JobQueue.from_settings(settings))

    async def submit(self, target: str, inputs: Mapping[str, Any], *,
                     sensitivity: Mapping[str, Sensitivity] | None = None,
                     idempotency_key: str | None = None) -> str:
        return await self.queue.submit(target, inputs, sensitivity=sensitivity, idempotency_key=idempotency_key)

    async def status(self, job_id: str) -> Job:
        return await self.queue.status(job_id)

    async def result(self, job_id: str) -> RunResult | None:
        job = await self.queue.status(job_id)
        return await self.queue.store.get_run(job.run_id)

    async def cancel(self, job_id: str) -> Job:
        return await self.queue.cancel(job_id)

    async def events(self, job_id: str, *, after: str | None = None, follow: bool = False,
                     timeout: float | None = None) -> AsyncIterator[tuple[str, Event]]:  # noqa: ASYNC109
        async for item in self.queue.events(job_id, after=after, follow=follow, timeout=timeout):
            yield item

    async def ping(self) -> None:
        await self.queue.store.get_run(_PROBE_RUN)

    async def aclose(self) -> None:
        await self.queue.aclose()


async def settled(jobs: JobBackend, job_id: str, timeout: float = SETTLE_SECONDS) -> Job:  # noqa: ASYNC109
    """The job once its record says finished, or as it is after ``timeout`` seconds.

    A job's record is written just after its terminal event, so a caller that saw that event
    waits here for the record rather than reading a stale ``running``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    job = await jobs.status(job_id)
    while not job.finished and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
        job = await jobs.status(job_id)
    return job


async def outcome(jobs: JobBackend, job: Job) -> RunResult:
    """The run record of a finished ``job``, or a failed one with the job's error if the run left none."""
    result = await jobs.result(job.id)
    if result is None or result.status == "running":
        return RunResult(run_id=job.run_id, status="cancelled" if job.status == "cancelled" else "failed",
                         error=job.error)
    return result


class LocalJobs:
    """Jobs run as background tasks of this process; records live as long as the process."""

    name = "memory"

    def __init__(self, orchestrator: Orchestrator, store: Store | None = None):
        self.orchestrator = orchestrator
        own = orchestrator.store
        self.store: Store = store or own or MemoryStore()
        self._forward = own is None or store is not None
        """Pass ``store`` as the run's event sink (an orchestrator store gets events anyway)."""
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def submit(self, target: str, inputs: Mapping[str, Any], *,
                     sensitivity: Mapping[str, Sensitivity] | None = None,
                     idempotency_key: str | None = None) -> str:
        job_id = uuid.uuid4().hex
        job = Job(id=job_id, target=target, inputs=dict(inputs), run_id=job_id,
                  sensitivity=dict(sensitivity) if sensitivity else None, idempotency_key=idempotency_key)
        if idempotency_key is not None and idempotency_key in self._by_key:
            earlier = self._jobs[self._by_key[idempotency_key]]
            if earlier.fingerprint() != job.fingerprint():
                raise IdempotencyConflict(idempotency_key, earlier.id)
            return earlier.id
        self._jobs[job_id] = job
        if idempotency_key is not None:
            self._by_key[idempotency_key] = job_id
        task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))
        log.info("job.submitted", job_id=job_id, backend=self.name)
        return job_id

    async def status(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobError(job_id, "unknown job")
        return job.model_copy()

    async def result(self, job_id: str) -> RunResult | None:
        job = await self.status(job_id)
        return await self.store.get_run(job.run_id)

    async def cancel(self, job_id: str) -> Job:
        job = await self.status(job_id)
        task = self._tasks.get(job_id)
        if not job.finished and task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return await self.status(job_id)

    async def events(self, job_id: str, *, after: str | None = None, follow: bool = False,
                     timeout: float | None = None) -> AsyncIterator[tuple[str, Event]]:  # noqa: ASYNC109
        job = await self.status(job_id)
        async for item in self.store.read_events(job.run_id, after=after, follow=follow, timeout=timeout):
            yield item

    async def ping(self) -> None:
        await self.store.get_run(_PROBE_RUN)

    async def aclose(self) -> None:
        """Cancel the jobs still running and wait for them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]
        self._update(job_id, status="running", attempts=1, started_at=time.time())
        events = self.store if self._forward else None
        try:
            result = await self.orchestrator.run(job.target, job.inputs, run_id=job.run_id,
                                                 sensitivity=job.sensitivity, events=events)
        except asyncio.CancelledError:
            await self._end(job, "cancelled", "cancelled while running")
            raise
        except Exception as exc:
            log.warning("job.failed", job_id=job_id, error_type=type(exc).__name__)
            await self._end(job, "failed", f"{type(exc).__name__}: {exc}")
            return
        if self._forward:
            await self.store.save_run(result)
        status = "completed" if result.ok else "cancelled" if result.status == "cancelled" else "failed"
        self._update(job_id, status=status, error=result.error, finished_at=time.time())
        log.info("job.finished", job_id=job_id, status=status)

    async def _end(self, job: Job, status: str, error: str) -> None:
        """Record a run that produced no result and close its event stream."""
        await self.store.save_run(RunResult(run_id=job.run_id, status="cancelled" if status == "cancelled"
                                            else "failed", error=error))
        await self.store.emit(Event(type="run.failed", run_id=job.run_id, data={"status": status, "error": error}))
        self._update(job.id, status=status, error=error, finished_at=time.time())

    def _update(self, job_id: str, **changes: Any) -> None:
        self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)


def create_backend(orchestrator: Orchestrator) -> JobBackend:
    """The queue when the deployment has Redis, else in-process jobs."""
    if orchestrator.settings.redis_url:
        return QueueJobs.from_settings(orchestrator.settings)
    return LocalJobs(orchestrator)


__all__ = ["SETTLE_SECONDS", "JobBackend", "LocalJobs", "QueueJobs", "check_target", "create_backend", "outcome",
           "settled"]
