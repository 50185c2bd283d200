"""The job queue: a Redis Stream with one consumer group, and a JSON record per job.

Key layout (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:jobs:stream              stream  {"job": <id>}, read by group "workers"
    <prefix>:jobs:dead                stream  dead-lettered jobs: {"job", "error", "attempts"}
    <prefix>:jobs:index               zset    job ids by creation time (for ``list``)
    <prefix>:job:<id>                 string  :class:`Job` JSON (TTL ``result_ttl``)
    <prefix>:job:<id>:cancel          string  cancellation requested
    <prefix>:job-idempotency:<key>    string  the job id submitted under ``key`` (SET NX)

A job's run id is its job id, so a rerun after a worker crash resumes the same run from its
last checkpoint. Every change of a job record is one WATCH/MULTI transaction on that record,
and a transition that ends a delivery also acknowledges (XACK) and deletes (XDEL) its stream
entry in the same MULTI: a job record and the stream never disagree. Workers
(:mod:`orchestrator.worker`) drive the transitions through the ``worker_*`` methods.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError, WatchError

from orchestrator.errors import JobError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.store import RedisStore, Store
from orchestrator.store.connection import connect, redis_errors, text
from orchestrator.types import Event, RunResult, Sensitivity

log = structlog.get_logger(__name__)

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled", "dead"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "dead"})
_WATCH_RETRIES = 100


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """How the queue and its workers behave. Durations in seconds."""

    visibility_timeout: float = 30.0
    """A delivered job nobody heartbeats for this long is reclaimed by another worker."""
    max_attempts: int = 3
    """Starts of a job (crashes and retryable errors included) before it is dead-lettered."""
    worker_concurrency: int = 4
    result_ttl: int = 7 * 24 * 3600
    """How long job records, run records and idempotency keys are kept."""
    events_maxlen: int = 10_000
    events_ttl: int = 7 * 24 * 3600
    shutdown_grace: float = 10.0
    """On SIGTERM, how long in-flight jobs may finish before they are handed back."""
    poll_interval: float = 0.5
    """How often a worker checks cancel flags, and the longest a stream read blocks."""

    @classmethod
    def of(cls, section: object, **overrides: Any) -> QueueSettings:
        """Copy the matching fields of another settings object (e.g. ``Settings.queue``)."""
        names = [n for n in cls.__dataclass_fields__ if hasattr(section, n)]
        return cls(**{**{n: getattr(section, n) for n in names}, **overrides})


class Job(BaseModel):
    """A queued unit of work and what became of it."""

    id: str
    target: str
    """A workflow name or a free-form task."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    sensitivity: dict[str, Sensitivity] | None = None
    status: JobStatus = "queued"
    attempts: int = 0
    """How many times a worker started the job."""
    run_id: str
    error: str | None = None
    idempotency_key: str | None = None
    worker: str | None = None
    """The worker that started the latest attempt."""
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a worker."""

    message_id: str
    job_id: str


class JobQueue:
    """Submit jobs, follow them, cancel them; workers take them from the same Redis.

    ``store`` (default: a :class:`~orchestrator.store.RedisStore` on ``client``) holds the
    run records and events of jobs. ``client`` is borrowed unless built by :meth:`from_url`.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keys: KeySpace,
        settings: QueueSettings | None = None,
        *,
        store: Store | None = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.keys = keys
        self.settings = settings or QueueSettings()
        s = self.settings
        self.store: Store = store or RedisStore(
            client, keys, events_maxlen=s.events_maxlen, events_ttl=s.events_ttl, run_ttl=s.result_ttl
        )
        self._owns_client = owns_client
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, keys: KeySpace, settings: QueueSettings | None = None) -> JobQueue:
        """A queue with its own client (closed by :meth:`aclose`)."""
        return cls(connect(url), keys, settings, owns_client=True)

    async def aclose(self) -> None:
        """Close the client if this queue owns it."""
        if self._owns_client:
            await self.client.aclose()

    # -- clients -------------------------------------------------------------

    async def submit(
        self,
        target: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        sensitivity: Mapping[str, Sensitivity] | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Queue a job and return its id. The same ``idempotency_key`` returns the same id."""
        job_id = uuid.uuid4().hex
        ttl = self.settings.result_ttl
        with redis_errors(self.client):
            if idempotency_key is not None:
                key = self.keys.job_idempotency(idempotency_key)
                if not await self.client.set(key, job_id, nx=True, ex=ttl):
                    existing = await self.client.get(key)
                    if existing is not None:
                        log.info("job.submit_deduplicated", job_id=text(existing))
                        return text(existing)
            job = Job(
                id=job_id, target=target, inputs=dict(inputs or {}), run_id=job_id,
                sensitivity=dict(sensitivity) if sensitivity else None, idempotency_key=idempotency_key,
            )
            await self._ensure_group()
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.keys.job(job_id), job.model_dump_json(), ex=ttl)
                pipe.zadd(self.keys.jobs_index, {job_id: job.created_at})
                pipe.zremrangebyscore(self.keys.jobs_index, 0, job.created_at - ttl)
                pipe.xadd(self.keys.jobs_stream, {"job": job_id})
                await pipe.execute()
        log.info("job.submitted", job_id=job_id, target=target)
        return job_id

    async def status(self, job_id: str) -> Job:
        """The job's record. Raises :class:`JobError` for an unknown (or expired) id."""
        with redis_errors(self.client):
            raw = await self.client.get(self.keys.job(job_id))
        if raw is None:
            raise JobError(job_id, "unknown job (never submitted, or its record expired)")
        return Job.model_validate_json(raw)

    async def result(
        self,
        job_id: str,
        *,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the documented API
    ) -> RunResult:
        """The run result of a finished job; with ``wait``, wait until it finishes.

        Raises :class:`JobError` if the job is unknown, still running (without ``wait``),
        not finished within ``timeout``, cancelled, dead, or failed without a run result.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        job = await self.status(job_id)
        while not job.finished:
            if not wait:
                raise JobError(job_id, f"not finished yet (status {job.status})")
            if deadline is not None and time.monotonic() >= deadline:
                raise JobError(job_id, f"not finished within {timeout:g}s (status {job.status})")
            pause = delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(pause)
            delay = min(delay * 2, 0.2)
            job = await self.status(job_id)
        run = await self.store.get_run(job.run_id) if job.status in ("completed", "failed") else None
        if run is None or run.status == "running":
            raise JobError(job_id, f"{job.status}: {job.error or 'no run result recorded'}")
        return run

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one as soon as its worker notices.

        Returns the record after the request (status ``cancelled``, or still ``running``
        until the worker stops the run). Finished jobs are returned unchanged.
        """
        job = await self.status(job_id)
        if job.finished:
            return job
        with redis_errors(self.client):
            await self.client.set(self.keys.job_cancel(job_id), "1", ex=self.settings.result_ttl)

        def cancel_queued(current: Job) -> Job | None:
            if current.status != "queued":
                return None
            return current.model_copy(update={
                "status": "cancelled", "error": "cancelled before it started", "finished_at": time.time(),
            })

        updated, changed = await self._update(job_id, cancel_queued)
        assert updated is not None
        if changed:
            await self._emit_end(updated, "cancelled before it started", status="cancelled")
        log.info("job.cancel_requested", job_id=job_id, status=updated.status)
        return updated

    async def list(self, status: JobStatus | None = None, limit: int = 50) -> builtins.list[Job]:
        """The newest jobs first, optionally only those with ``status``."""
        found: builtins.list[Job] = []
        start, page = 0, max(limit, 100)
        while len(found) < limit:
            with redis_errors(self.client):
                ids: Any = await self.client.zrevrange(self.keys.jobs_index, start, start + page - 1)
                if not ids:
                    break
                raws = await self.client.mget([self.keys.job(text(i)) for i in ids])
            for raw in raws:
                if raw is not None:
                    job = Job.model_validate_json(raw)
                    if status is None or job.status == status:
                        found.append(job)
            start += page
        return found[:limit]

    async def events(
        self,
        job_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the documented API
    ) -> AsyncIterator[tuple[str, Event]]:
        """The events of the job's run (see :meth:`orchestrator.store.Store.read_events`)."""
        job = await self.status(job_id)
        async for item in self.store.read_events(job.run_id, after=after, follow=follow, timeout=timeout):
            yield item

    async def dead_letters(self, limit: int = 100) -> builtins.list[dict[str, str]]:
        """The newest dead-lettered jobs: ``{"job", "error", "attempts"}``."""
        with redis_errors(self.client):
            entries: Any = await self.client.xrevrange(self.keys.jobs_dead, count=limit)
        return [{text(k): text(v) for k, v in fields.items()} for _id, fields in entries]

    # -- workers -------------------------------------------------------------

    async def worker_read(self, consumer: str, count: int, block_ms: int) -> builtins.list[Delivery]:
        """New deliveries for ``consumer`` (XREADGROUP, blocking up to ``block_ms``)."""
        await self._ensure_group()
        with redis_errors(self.client):
            reply: Any = await self.client.xreadgroup(
                self.keys.jobs_group, consumer, {self.keys.jobs_stream: ">"}, count=count, block=block_ms
            )
        return [d for _stream, entries in reply or [] for d in _deliveries(entries)]

    async def worker_reclaim(self, consumer: str, count: int) -> builtins.list[Delivery]:
        """Deliveries idle longer than the visibility timeout, taken over (XAUTOCLAIM)."""
        await self._ensure_group()
        min_idle = int(self.settings.visibility_timeout * 1000)
        with redis_errors(self.client):
            reply: Any = await self.client.xautoclaim(
                self.keys.jobs_stream, self.keys.jobs_group, consumer, min_idle, "0-0", count=count
            )
        deliveries = _deliveries(reply[1])
        if deliveries:
            log.warning("jobs.reclaimed", worker=consumer, jobs=[d.job_id for d in deliveries])
        return deliveries

    async def worker_touch(self, consumer: str, message_ids: builtins.list[str]) -> None:
        """Reset the idle time of ``consumer``'s in-flight deliveries, so nobody reclaims them.

        Only entries still pending for ``consumer`` are touched: one that another worker
        took over (after this one stalled) stays with that worker.
        """
        if not message_ids:
            return
        with redis_errors(self.client):
            pending: Any = await self.client.xpending_range(
                self.keys.jobs_stream, self.keys.jobs_group, "-", "+",
                count=max(100, 4 * len(message_ids)), consumername=consumer,
            )
            owned: builtins.list[Any] = sorted({text(p["message_id"]) for p in pending} & set(message_ids))
            if owned:
                await self.client.xclaim(
                    self.keys.jobs_stream, self.keys.jobs_group, consumer, 0, owned, justid=True
                )

    async def worker_cancel_requested(self, job_ids: builtins.list[str]) -> set[str]:
        """Which of ``job_ids`` have a cancellation request."""
        if not job_ids:
            return set()
        with redis_errors(self.client):
            flags = await self.client.mget([self.keys.job_cancel(j) for j in job_ids])
        return {job_id for job_id, flag in zip(job_ids, flags, strict=True) if flag is not None}

    async def worker_start(self, delivery: Delivery, worker: str) -> Job | None:
        """Begin an attempt: the running :class:`Job`, or ``None`` if it must not run.

        Entries of unknown or finished jobs are acknowledged; a job with a cancel request is
        recorded cancelled; a job that already used ``max_attempts`` is dead-lettered.
        """
        max_attempts = self.settings.max_attempts
        now = time.time()
        end: tuple[JobStatus, str] | None = None

        def begin(job: Job, cancelled: bool) -> Job:
            nonlocal end
            end = None
            if job.finished:
                end = (job.status, "")
                return job
            if cancelled:
                end = ("cancelled", "cancelled before it started")
            elif job.attempts >= max_attempts:
                reason = job.error or "the worker running it stopped without finishing"
                end = ("dead", f"gave up after {job.attempts} attempts; last error: {reason}")
            if end is not None:
                return job.model_copy(update={"status": end[0], "error": end[1], "finished_at": now})
            return job.model_copy(update={
                "status": "running", "attempts": job.attempts + 1, "worker": worker, "started_at": now,
            })

        def after(pipe: Pipeline, job: Job) -> None:
            if end is not None:
                self._ack(pipe, delivery)
                if end[0] == "dead":
                    pipe.xadd(self.keys.jobs_dead, {
                        "job": job.id, "error": job.error or "", "attempts": str(job.attempts),
                    })

        job, changed = await self._update(delivery.job_id, begin, after, missing_ok=True, with_cancel_flag=True)
        if job is None or (end is not None and not changed):
            await self._ack_only(delivery)
            log.info("job.stale_entry", job_id=delivery.job_id, message_id=delivery.message_id)
            return None
        if end is None:
            log.info("job.started", job_id=job.id, attempt=job.attempts, worker=worker)
            return job
        if end[1]:
            log.warning("job.not_started", job_id=job.id, status=end[0], reason=end[1])
            await self._emit_end(job, end[1], status=end[0])
        return None

    async def worker_finish(
        self, job: Job, delivery: Delivery, status: JobStatus, error: str | None = None
    ) -> Job:
        """Record the outcome of an attempt and acknowledge its delivery, in one transaction."""

        def finish(current: Job) -> Job | None:
            if current.finished or current.attempts != job.attempts:
                return None  # another worker took over; its outcome counts
            return current.model_copy(update={"status": status, "error": error, "finished_at": time.time()})

        def after(pipe: Pipeline, updated: Job) -> None:
            self._ack(pipe, delivery)
            if status == "dead":
                pipe.xadd(self.keys.jobs_dead, {
                    "job": updated.id, "error": error or "", "attempts": str(updated.attempts),
                })

        updated, changed = await self._update(job.id, finish, after)
        assert updated is not None
        if not changed:
            await self._ack_only(delivery)
        log.info("job.finished", job_id=job.id, status=updated.status, attempt=job.attempts)
        return updated

    async def worker_retry(self, job: Job, delivery: Delivery, error: str) -> Job:
        """Queue the job again after a retryable failure (new stream entry, same run id)."""

        def requeue(current: Job) -> Job | None:
            if current.finished or current.attempts != job.attempts:
                return None
            return current.model_copy(update={"status": "queued", "error": error})

        def after(pipe: Pipeline, _job: Job) -> None:
            self._ack(pipe, delivery)
            pipe.xadd(self.keys.jobs_stream, {"job": job.id})

        updated, changed = await self._update(job.id, requeue, after)
        assert updated is not None
        if not changed:
            await self._ack_only(delivery)
        log.warning("job.retry", job_id=job.id, attempt=job.attempts, error=error)
        return updated

    async def worker_release(self, job: Job, reason: str) -> None:
        """Hand an interrupted job back: status queued, its delivery left pending for reclaim."""

        def release(current: Job) -> Job | None:
            if current.finished or current.attempts != job.attempts:
                return None
            return current.model_copy(update={"status": "queued", "error": reason})

        await self._update(job.id, release)
        log.warning("job.released", job_id=job.id, reason=reason)

    async def worker_heartbeat(self, name: str, info: Mapping[str, Any]) -> None:
        """Publish a worker's status (expires unless refreshed)."""
        ttl = max(1, int(self.settings.visibility_timeout * 3))
        with redis_errors(self.client):
            await self.client.set(self.keys.worker(name), _json(info), ex=ttl)

    async def worker_gone(self, name: str) -> None:
        """Remove a stopped worker's status."""
        with redis_errors(self.client):
            await self.client.delete(self.keys.worker(name))

    # -- internals -----------------------------------------------------------

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        with redis_errors(self.client):
            try:
                await self.client.xgroup_create(
                    self.keys.jobs_stream, self.keys.jobs_group, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    def _ack(self, pipe: Pipeline, delivery: Delivery) -> None:
        pipe.xack(self.keys.jobs_stream, self.keys.jobs_group, delivery.message_id)
        pipe.xdel(self.keys.jobs_stream, delivery.message_id)

    async def _ack_only(self, delivery: Delivery) -> None:
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=True) as pipe:
                self._ack(pipe, delivery)
                await pipe.execute()

    async def _emit_end(self, job: Job, reason: str, *, status: str) -> None:
        """Close the job's event stream, so followers of a run that never ran stop waiting."""
        data = {"status": status, "error": reason}
        await self.store.emit(Event(type="run.failed", run_id=job.run_id, data=data))

    async def _update(
        self,
        job_id: str,
        change: Callable[..., Job | None],
        also: Callable[[Pipeline, Job], None] | None = None,
        *,
        missing_ok: bool = False,
        with_cancel_flag: bool = False,
    ) -> tuple[Job | None, bool]:
        """Apply ``change`` to a job record atomically (WATCH/MULTI, retried on conflict).

        ``change`` returns the new record, or ``None`` to leave it; ``also`` adds commands to
        the same MULTI. With ``with_cancel_flag``, the job's cancel flag is watched too and
        ``change`` gets it as a second argument. Returns ``(record, changed)``; the record is ``None`` only if the job
        is missing and ``missing_ok``.
        """
        key = self.keys.job(job_id)
        watched = [key, self.keys.job_cancel(job_id)] if with_cancel_flag else [key]
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=True) as pipe:
                for _ in range(_WATCH_RETRIES):
                    try:
                        await pipe.watch(*watched)
                        raw, *flag = await pipe.mget(watched)
                        if raw is None:
                            if missing_ok:
                                return None, False
                            raise JobError(job_id, "unknown job (never submitted, or its record expired)")
                        current = Job.model_validate_json(raw)
                        updated = change(current, flag[0] is not None) if flag else change(current)
                        if updated is None or updated == current:
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return current, False
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(key, updated.model_dump_json(), ex=self.settings.result_ttl)
                        if also is not None:
                            also(pipe, updated)
                        await pipe.execute()
                        return updated, True
                    except WatchError:
                        continue
        raise StoreError(f"job {job_id}: record kept changing; gave up after {_WATCH_RETRIES} tries")


def _deliveries(entries: Any) -> builtins.list[Delivery]:
    found = []
    for message_id, fields in entries or []:
        if not fields:  # deleted while pending
            continue
        job_id = fields.get(b"job", fields.get("job"))
        if job_id is not None:
            found.append(Delivery(text(message_id), text(job_id)))
    return found


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), default=str)


__all__ = ["TERMINAL", "Delivery", "Job", "JobQueue", "JobStatus", "QueueSettings"]
