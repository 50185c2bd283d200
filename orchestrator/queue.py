"""The job queue: a Redis Stream with one consumer group, and a JSON record per job.

Key layout (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:jobs:stream              stream  {"job": <id>}, read by group "workers"
    <prefix>:jobs:dead                stream  dead-lettered jobs: {"job", "error", "attempts"}
    <prefix>:jobs:index               zset    job ids by creation time (for ``list``)
    <prefix>:job:<id>                 string  :class:`Job` JSON (TTL ``result_ttl``)
    <prefix>:job:<id>:cancel          string  cancellation requested
    <prefix>:job-idempotency:<key>    string  the job id submitted under ``key`` (SET NX)

    <prefix>:jobs:done                pub/sub channel: ids of jobs that reached a final status

A job's run id is its job id, so a rerun after a worker crash resumes the same run from its
last checkpoint. Every change of a job record is atomic, and a transition that ends a delivery
also acknowledges (XACK) and deletes (XDEL) its stream entry in the same step: a job record
and the stream never disagree. Workers (:mod:`orchestrator.worker`) drive the transitions
through the ``worker_*`` methods; starting and finishing an attempt are one round trip each
(Lua scripts, :mod:`orchestrator._queue_scripts`), the rare ones (cancel, retry, release) are
WATCH/MULTI transactions. Every final status is published on ``jobs:done``, which is what
``result(wait=True)`` listens to (one subscription per process).
"""

from __future__ import annotations

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
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError, WatchError

from orchestrator import _queue_scripts
from orchestrator.errors import JobError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.store import RedisStore, Store
from orchestrator.store.connection import connect, describe, redis_errors, text
from orchestrator.store.signals import Signals
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
    """A queued unit of work and what became of it.

    The state fields come last, in this order: the queue's scripts rewrite them as the tail
    of the stored JSON without decoding the inputs (see :mod:`orchestrator._queue_scripts`).
    """

    id: str
    target: str
    """A workflow name or a free-form task."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    sensitivity: dict[str, Sensitivity] | None = None
    run_id: str
    idempotency_key: str | None = None
    created_at: float = Field(default_factory=time.time)
    status: JobStatus = "queued"
    attempts: int = 0
    """How many times a worker started the job."""
    error: str | None = None
    worker: str | None = None
    """The worker that started the latest attempt."""
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
        self._submit = client.register_script(_queue_scripts.SUBMIT)
        self._start = client.register_script(_queue_scripts.START)
        self._finish = client.register_script(_queue_scripts.FINISH)
        self._signals = Signals(client, keys.jobs_done)
        self._run_store = _same_redis(self.store, client)
        """The store whose run records ``worker_finish`` writes in its own script (else ``save_run``)."""

    @classmethod
    def from_url(cls, url: str, keys: KeySpace, settings: QueueSettings | None = None) -> JobQueue:
        """A queue with its own client (closed by :meth:`aclose`)."""
        return cls(connect(url), keys, settings, owns_client=True)

    async def aclose(self) -> None:
        """Stop listening for finished jobs; close the client if this queue owns it."""
        await self._signals.aclose()
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
        job = Job(
            id=job_id, target=target, inputs=dict(inputs or {}), run_id=job_id,
            sensitivity=dict(sensitivity) if sensitivity else None, idempotency_key=idempotency_key,
        )
        dedupe_key = self.keys.job_idempotency(idempotency_key) if idempotency_key is not None else ""
        keys = [self.keys.job(job_id), self.keys.jobs_index, self.keys.jobs_stream, dedupe_key or self.keys.job(job_id)]
        args: builtins.list[str | int] = [job_id, job.model_dump_json(), ttl, repr(job.created_at),
                                          repr(job.created_at - ttl), "1" if dedupe_key else ""]
        await self._ensure_group()
        with redis_errors(self.client):
            queued = text(await self._submit(keys, args))
        if queued != job_id:
            log.info("job.submit_deduplicated", job_id=queued)
        else:
            log.info("job.submitted", job_id=job_id, target=target)
        return queued

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
        job = await self._finished(job_id, timeout) if wait else await self.status(job_id)
        if not job.finished:
            if not wait:
                raise JobError(job_id, f"not finished yet (status {job.status})")
            raise JobError(job_id, f"not finished within {timeout:g}s (status {job.status})")
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

        def announce(pipe: Pipeline, _job: Job) -> None:
            pipe.publish(self.keys.jobs_done, job_id)

        updated, changed = await self._update(job_id, cancel_queued, announce)
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
        job_id = delivery.job_id
        keys = [self.keys.job(job_id), self.keys.job_cancel(job_id), self.keys.jobs_stream, self.keys.jobs_dead]
        args = [job_id, delivery.message_id, self.keys.jobs_group, json.dumps(worker), repr(time.time()),
                self.settings.max_attempts, self.settings.result_ttl, self.keys.jobs_done]
        reply = await self._script(self._start, job_id, keys, args)
        outcome = text(reply[0])
        if outcome == "stale":
            log.info("job.stale_entry", job_id=job_id, message_id=delivery.message_id)
            return None
        job = Job.model_validate_json(reply[1])
        if outcome == "running":
            log.info("job.started", job_id=job_id, attempt=job.attempts, worker=worker)
            return job
        reason = text(reply[2])
        log.warning("job.not_started", job_id=job_id, status=outcome, reason=reason)
        await self._emit_end(job, reason, status=outcome)
        return None

    async def worker_finish(
        self,
        job: Job,
        delivery: Delivery,
        status: JobStatus,
        error: str | None = None,
        *,
        run: RunResult | None = None,
    ) -> Job:
        """Record the outcome of an attempt and acknowledge its delivery, in one step.

        ``run`` (the attempt's run record) is saved too: in the same script when the store is
        a :class:`RedisStore` on this Redis, else with ``store.save_run`` first. Nothing is
        recorded if the attempt no longer owns the job (another worker took it over).
        """
        store = self._run_store
        if run is not None and store is None:
            await self.store.save_run(run)
        run_key = store.keys.run(job.run_id) if store is not None else self.keys.run(job.run_id)
        run_ttl = "" if store is None or store.run_ttl is None else store.run_ttl
        keys = [self.keys.job(job.id), self.keys.jobs_stream, self.keys.jobs_dead, run_key]
        args = [job.id, delivery.message_id, self.keys.jobs_group, job.attempts, status, json.dumps(error),
                error or "", repr(time.time()), self.settings.result_ttl, self.keys.jobs_done,
                run.model_dump_json() if run is not None and store is not None else "", run_ttl]
        reply = await self._script(self._finish, job.id, keys, args)
        if text(reply[0]) == "missing":
            raise JobError(job.id, "unknown job (never submitted, or its record expired)")
        updated = Job.model_validate_json(reply[1])
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

    async def _finished(self, job_id: str, timeout: float | None) -> Job:  # noqa: ASYNC109
        """The job's record once it is finished (woken by ``jobs:done``), or the last one seen."""
        job: Job | None = None

        async def finished() -> bool:
            nonlocal job
            job = await self.status(job_id)
            return job.finished

        await self._signals.until(job_id, finished, timeout)
        assert job is not None
        return job

    async def _script(self, script: AsyncScript, job_id: str, keys: builtins.list[str],
                      args: builtins.list[Any]) -> builtins.list[Any]:
        """Run a transition script; a record in an older field order is rewritten first."""
        with redis_errors(self.client):
            reply: builtins.list[Any] = await script(keys, args)
            if text(reply[0]) == "relayout":
                await self._update(job_id, lambda job: job, rewrite=True)
                reply = await script(keys, args)
        if text(reply[0]) == "relayout":
            raise StoreError(f"job {job_id}: the record does not have the layout of a Job")
        return reply

    async def _update(
        self,
        job_id: str,
        change: Callable[[Job], Job | None],
        also: Callable[[Pipeline, Job], None] | None = None,
        *,
        rewrite: bool = False,
    ) -> tuple[Job | None, bool]:
        """Apply ``change`` to a job record atomically (WATCH/MULTI, retried on conflict).

        ``change`` returns the new record, or ``None`` to leave it; ``also`` adds commands to
        the same MULTI. With ``rewrite``, an unchanged record is written back too (in the
        current field order). Returns ``(record, changed)``.
        """
        key = self.keys.job(job_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=True) as pipe:
                for _ in range(_WATCH_RETRIES):
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            raise JobError(job_id, "unknown job (never submitted, or its record expired)")
                        current = Job.model_validate_json(raw)
                        updated = change(current)
                        if updated is None or (updated == current and not rewrite):
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


def _same_redis(store: Store, client: aioredis.Redis) -> RedisStore | None:
    """``store`` if it is a :class:`RedisStore` on the server ``client`` talks to."""
    if isinstance(store, RedisStore) and describe(store.client) == describe(client):
        return store
    return None


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), default=str)


__all__ = ["TERMINAL", "Delivery", "Job", "JobQueue", "JobStatus", "QueueSettings"]
