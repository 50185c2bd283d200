"""The in-process job backend: without Redis, submitted jobs run as tasks of this process.

:class:`MemoryJobs` keeps the :class:`~orchestrator.queue.JobBackend` contract of the Redis
queue (the same contract tests run on both): ids, idempotency keys, status, results, events and
cancel behave alike. Up to ``worker_concurrency`` jobs run at once, the rest wait ``queued``.
What it does not offer is durability: records live as long as the process, and a job still
running when the process stops is cancelled, not retried elsewhere.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from orchestrator.errors import IdempotencyConflict
from orchestrator.logging import get_logger
from orchestrator.queue.backend import JobHandle
from orchestrator.queue.jobs import Job, JobRunner, JobStatus, new_job, run_outcome, unknown
from orchestrator.settings import QueueSettings
from orchestrator.store import MemoryStore, Store
from orchestrator.types import Event, RunResult, Sensitivity

log = get_logger(__name__)

_PROBE_RUN = "__healthz__"


class MemoryJobs:
    """Jobs run by ``runner`` (e.g. an :class:`~orchestrator.engine.app.Orchestrator`) in this process.

    Events and run records go to ``store``, else to the runner's own ``store``, else to a
    :class:`~orchestrator.store.MemoryStore` of this backend.
    """

    name = "memory"

    def __init__(self, runner: JobRunner, store: Store | None = None, settings: QueueSettings | None = None):
        self.runner = runner
        own: Store | None = getattr(runner, "store", None)
        self.store: Store = store or own or MemoryStore()
        self.settings = settings or QueueSettings()
        self._forward = own is None or store is not None
        """Pass ``store`` as the run's event sink (a runner with a store writes events there anyway)."""
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[str, str] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._returned: set[str] = set()
        """Jobs whose runner returned a run (the others answer ``result`` with their error, as on Redis)."""
        self._slots = asyncio.Semaphore(self.settings.worker_concurrency)

    def handle(self, job_id: str) -> JobHandle:
        """A :class:`~orchestrator.queue.JobHandle` on ``job_id`` (an unknown id fails on first use)."""
        return JobHandle(job_id, self)

    async def submit(self, target: str, inputs: Mapping[str, Any] | None = None, *,
                     sensitivity: Mapping[str, Sensitivity] | None = None,
                     idempotency_key: str | None = None) -> str:
        job_id = uuid.uuid4().hex
        job = new_job(job_id, target, inputs, sensitivity=sensitivity, idempotency_key=idempotency_key)
        if idempotency_key is not None and idempotency_key in self._by_key:
            earlier = self._jobs[self._by_key[idempotency_key]]
            if earlier.fingerprint() != job.fingerprint():
                raise IdempotencyConflict(idempotency_key, earlier.id)
            log.info("job.submit_deduplicated", job_id=earlier.id)
            return earlier.id
        self._jobs[job_id] = job
        self._done[job_id] = asyncio.Event()
        if idempotency_key is not None:
            self._by_key[idempotency_key] = job_id
        task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))
        log.info("job.submitted", job_id=job_id, target=target, backend=self.name)
        return job_id

    async def status(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise unknown(job_id)
        return job.model_copy()

    async def result(self, job_id: str, *, wait: bool = False,
                     timeout: float | None = None) -> RunResult:  # noqa: ASYNC109 - part of the contract
        job = await self.status(job_id)
        if wait and not job.finished:
            try:
                async with asyncio.timeout(timeout):
                    await self._done[job_id].wait()
            except TimeoutError:
                pass
            job = await self.status(job_id)
        run = await self.store.get_run(job.run_id) if job_id in self._returned else None
        return run_outcome(job, run, waited=wait, timeout=timeout)

    async def run_record(self, job_id: str) -> RunResult | None:
        job = await self.status(job_id)
        return await self.store.get_run(job.run_id)

    async def cancel(self, job_id: str) -> Job:
        job = await self.status(job_id)
        task = self._tasks.get(job_id)
        if not job.finished and task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        log.info("job.cancel_requested", job_id=job_id, status=self._jobs[job_id].status)
        return await self.status(job_id)

    async def events(self, job_id: str, *, after: str | None = None, follow: bool = False,
                     timeout: float | None = None) -> AsyncIterator[tuple[str, Event]]:  # noqa: ASYNC109
        job = await self.status(job_id)
        async for item in self.store.read_events(job.run_id, after=after, follow=follow, timeout=timeout):
            yield item

    async def ping(self) -> None:
        await self.store.get_run(_PROBE_RUN)

    async def aclose(self) -> None:
        """Cancel the jobs still queued or running and wait for them."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]
        started = False
        try:
            async with self._slots:
                started = True
                self._update(job_id, status="running", attempts=1, started_at=time.time(), worker=self.name)
                events = self.store if self._forward else None
                result = await self.runner.run(job.target, job.inputs, run_id=job.run_id,
                                               sensitivity=job.sensitivity, events=events)
        except asyncio.CancelledError:
            reason = "cancelled while running" if started else "cancelled before it started"
            await asyncio.shield(self._end(job, "cancelled", reason, ran=started))
            raise
        except Exception as exc:
            log.warning("job.failed", job_id=job_id, error_type=type(exc).__name__)
            await self._end(job, "failed", f"{type(exc).__name__}: {exc}", ran=True)
            return
        if self._forward:
            await self.store.save_run(result)
        self._returned.add(job_id)
        status: JobStatus = "completed" if result.ok else "cancelled" if result.status == "cancelled" else "failed"
        self._finish(job_id, status, result.error)

    async def _end(self, job: Job, status: JobStatus, error: str, *, ran: bool) -> None:
        """Record a job that produced no result, and close its event stream."""
        try:
            if ran:
                await self.store.save_run(RunResult(run_id=job.run_id, status="cancelled" if status == "cancelled"
                                                    else "failed", error=error))
            await self.store.emit(Event(type="run.failed", run_id=job.run_id,
                                        data={"status": status, "error": error}))
        finally:
            self._finish(job.id, status, error)

    def _finish(self, job_id: str, status: JobStatus, error: str | None) -> None:
        self._update(job_id, status=status, error=error, finished_at=time.time())
        self._done[job_id].set()
        log.info("job.finished", job_id=job_id, status=status, backend=self.name)

    def _update(self, job_id: str, **changes: Any) -> None:
        self._jobs[job_id] = self._jobs[job_id].model_copy(update=changes)


__all__ = ["MemoryJobs"]
