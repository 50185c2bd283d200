"""The job queue: a Redis Stream with one consumer group, and a JSON record per job.

Key layout (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:jobs:stream              stream  {"job": <id>}, read by group "workers"
    <prefix>:jobs:dead                stream  dead-lettered jobs: {"job", "error", "attempts"} (MAXLEN)
    <prefix>:jobs:index               zset    job ids by creation time (for ``list``)
    <prefix>:job:<id>                 string  :class:`Job` JSON (TTL ``result_ttl``)
    <prefix>:job:<id>:cancel          string  cancellation requested
    <prefix>:job-idempotency:<key>    string  "<job id> <fingerprint of target and inputs>" (SET NX)

    <prefix>:jobs:done                pub/sub channel: ids of jobs that reached a final status
                                      (space-separated, one message per script call)

A job's run id is its job id, so a rerun after a worker crash resumes the same run from its
last checkpoint. Every change of a job record is atomic, and a transition that ends a delivery
also acknowledges (XACK) and deletes (XDEL) its stream entry in the same step: a job record
and the stream never disagree. Workers (:mod:`orchestrator.worker`) drive the transitions
through the ``worker_*`` methods. The frequent ones are Lua scripts
(:mod:`orchestrator._queue_scripts`) that take a batch: the jobs submitted in one event-loop
turn are queued with one call, a worker starts the jobs of one stream read with one call and
finishes the jobs that end in the same turn with one call; ``result`` look-ups of one turn
share one MGET. The rare transitions (cancel, retry, release) are WATCH/MULTI transactions.
Every final status is announced on ``jobs:done``, which is what ``result(wait=True)`` and
``wait`` listen to (one subscription per process).

A job that keeps failing ends ``failed`` with ``dead_lettered`` set and the last error in its
record, and is added to the dead-letter stream.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel, Field
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError, WatchError

from orchestrator import _queue_scripts
from orchestrator.errors import IdempotencyConflict, JobError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.redis.batching import Coalescer
from orchestrator.redis.connection import connect, connect_settings, describe, redis_errors, text
from orchestrator.redis.signals import Signals
from orchestrator.store import RedisStore, Store
from orchestrator.types import Event, RunResult, Sensitivity

if TYPE_CHECKING:
    from orchestrator.settings import Settings

log = structlog.get_logger(__name__)

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled", "dead"]
"""``dead`` is only found in records written by earlier versions: a dead-lettered job is now
``failed`` with :attr:`Job.dead_lettered` set."""
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "dead"})
_WATCH_RETRIES = 100
_PAGE = 500
"""Job records read per MGET."""
_BATCH = 100
"""Jobs started or finished per script call (a longer script would hold Redis up)."""


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
    dead_letters_maxlen: int = 10_000
    """Entries kept in the dead-letter stream (the oldest are dropped)."""
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
    dead_lettered: bool = False
    """The job failed on every attempt (or its workers kept dying) and went to the dead-letter stream."""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def fingerprint(self) -> str:
        """What the job does (target, inputs, sensitivity), as a digest: same work, same digest."""
        work = json.loads(self.model_dump_json(include={"target", "inputs", "sensitivity"}))
        canonical = json.dumps(work, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a worker."""

    message_id: str
    job_id: str


@dataclass(frozen=True, slots=True)
class _Item:
    """One job's part of a batched transition script: its keys and arguments."""

    job_id: str
    keys: builtins.list[str]
    args: builtins.list[Any]


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
        self._submits: Coalescer[_Item, Any] = Coalescer(self._submit_many, max_batch=_BATCH)
        self._reads: Coalescer[str, tuple[Any, Any]] = Coalescer(self._read_many, max_batch=_PAGE // 2)
        self._finishes: Coalescer[_Item, builtins.list[Any]] = Coalescer(self._finish_many, max_batch=_BATCH)
        self._run_store = _same_redis(self.store, client)
        """The store whose run records ``worker_finish`` writes in its own script (else ``save_run``)."""

    @classmethod
    def from_url(cls, url: str, keys: KeySpace, settings: QueueSettings | None = None) -> JobQueue:
        """A queue with its own client (closed by :meth:`aclose`)."""
        return cls(connect(url), keys, settings, owns_client=True)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> JobQueue:
        """The deployment's queue, with its own client: ``redis_url``, ``key_prefix``, ``[queue]``
        (``overrides`` replace fields of it) and ``[redis]``. ConfigError without Redis."""
        client = connect_settings(settings, "the job queue")
        return cls(client, settings.keyspace, QueueSettings.of(settings.queue, **overrides), owns_client=True)

    def handle(self, job_id: str) -> JobHandle:
        """A :class:`JobHandle` on ``job_id`` (not checked: an unknown id fails on first use)."""
        return JobHandle(job_id, self)

    async def aclose(self) -> None:
        """Stop listening for finished jobs; close the client if this queue owns it."""
        await self._signals.aclose()
        await self._submits.aclose()
        await self._reads.aclose()
        await self._finishes.aclose()
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
        """Queue a job and return its id.

        The same ``idempotency_key`` returns the same id (for as long as job records are kept);
        reused with a different target, inputs or sensitivity it raises :class:`IdempotencyConflict`.
        Jobs submitted in the same event-loop turn are queued with one script call.
        """
        job_id = uuid.uuid4().hex
        job = Job(
            id=job_id, target=target, inputs=dict(inputs or {}), run_id=job_id,
            sensitivity=dict(sensitivity) if sensitivity else None, idempotency_key=idempotency_key,
        )
        fingerprint = job.fingerprint() if idempotency_key is not None else ""
        dedupe_key = self.keys.job_idempotency(idempotency_key) if idempotency_key is not None else ""
        dedupe_value = f"{job_id} {fingerprint}" if dedupe_key else ""
        item = _Item(job_id, [self.keys.job(job_id), dedupe_key or self.keys.job(job_id)],
                     [job_id, job.model_dump_json(), repr(job.created_at), dedupe_value])
        await self._ensure_group()
        reply = text(await self._submits(item))
        if reply == job_id:
            log.info("job.submitted", job_id=job_id, target=target)
            return job_id
        queued, _, earlier = reply.partition(" ")
        if earlier and earlier != fingerprint:
            assert idempotency_key is not None
            raise IdempotencyConflict(idempotency_key, queued)
        log.info("job.submit_deduplicated", job_id=queued)
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
        job, run = await (self._finished(job_id, timeout) if wait else self._job_and_run(job_id))
        if not job.finished:
            if not wait:
                raise JobError(job_id, f"not finished yet (status {job.status})")
            raise JobError(job_id, f"not finished within {timeout:g}s (status {job.status})")
        if run is None or run.status == "running":
            raise JobError(job_id, f"{job.status}: {job.error or 'no run result recorded'}")
        return run

    async def wait(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the documented API
    ) -> builtins.list[Job]:
        """Wait until every job of ``job_ids`` is finished; their records, in the same order.

        One waiter for any number of jobs: it reads every record once, then only those of jobs
        announced on ``jobs:done`` (a batched GET), so each finished job costs O(1). Raises
        :class:`JobError` for an unknown id, or when ``timeout`` passes first.
        """
        pending = set(job_ids)
        found: dict[str, Job] = {}

        async def all_finished(fired: set[str] | None) -> bool:
            ids = builtins.list(pending if fired is None else pending & fired)
            for start in range(0, len(ids), _PAGE):
                page = ids[start:start + _PAGE]
                with redis_errors(self.client):
                    raws = await self.client.mget([self.keys.job(job_id) for job_id in page])
                for job_id, raw in zip(page, raws, strict=True):
                    if raw is None:
                        raise JobError(job_id, "unknown job (never submitted, or its record expired)")
                    job = Job.model_validate_json(raw)
                    if job.finished:
                        found[job_id] = job
                        pending.discard(job_id)
            return not pending

        if not await self._signals.until(pending, all_finished, timeout):
            total = len(found) + len(pending)
            raise JobError(min(pending), f"not finished within {timeout:g}s ({len(pending)} of {total} unfinished)")
        return [found[job_id] for job_id in job_ids]

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
        """Begin an attempt: the running :class:`Job`, or ``None`` if it must not run (see
        :meth:`worker_start_many`)."""
        [job] = await self.worker_start_many([delivery], worker)
        return job

    async def worker_start_many(self, deliveries: Sequence[Delivery], worker: str) -> builtins.list[Job | None]:
        """Begin the attempts of ``deliveries`` in one round trip: for each, the running
        :class:`Job`, or ``None`` if it must not run.

        Entries of unknown or finished jobs are acknowledged; a job with a cancel request is
        recorded cancelled; a job that already used ``max_attempts`` is failed and dead-lettered.
        """
        shared = [self.keys.jobs_group, json.dumps(worker), repr(time.time()), self.settings.max_attempts,
                  self.settings.result_ttl, self.keys.jobs_done, self.settings.dead_letters_maxlen]
        items = [_Item(d.job_id, [self.keys.job(d.job_id), self.keys.job_cancel(d.job_id)], [d.job_id, d.message_id])
                 for d in deliveries]
        replies = await self._batch(self._start, [self.keys.jobs_stream, self.keys.jobs_dead], shared, items)
        return [await self._started(d, reply, worker) for d, reply in zip(deliveries, replies, strict=True)]

    async def _started(self, delivery: Delivery, reply: builtins.list[Any], worker: str) -> Job | None:
        job_id, outcome = delivery.job_id, text(reply[0])
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
        dead_letter: bool = False,
    ) -> Job:
        """Record the outcome of an attempt and acknowledge its delivery, in one step.

        ``run`` (the attempt's run record) is saved too: in the same script when the store is
        a :class:`RedisStore` on this Redis, else with ``store.save_run`` first. With
        ``dead_letter``, the job is marked dead-lettered and added to the dead-letter stream.
        Nothing is recorded if the attempt no longer owns the job (another worker took it over).
        Attempts that finish in the same event-loop turn are recorded with one script call.
        """
        store = self._run_store
        if run is not None and store is None:
            await self.store.save_run(run)
        run_key = store.keys.run(job.run_id) if store is not None else self.keys.run(job.run_id)
        item = _Item(job.id, [self.keys.job(job.id), run_key], [
            job.id, delivery.message_id, job.attempts, status, json.dumps(error), error or "",
            run.model_dump_json() if run is not None and store is not None else "", "1" if dead_letter else ""])
        reply = await self._finishes(item)
        if text(reply[0]) == "missing":
            raise JobError(job.id, "unknown job (never submitted, or its record expired)")
        updated = Job.model_validate_json(reply[1])
        log.info("job.finished", job_id=job.id, status=updated.status, attempt=job.attempts)
        return updated

    async def _read_many(self, job_ids: builtins.list[str]) -> builtins.list[tuple[Any, Any]]:
        """The raw job and run records of ``job_ids`` (runs in :attr:`_run_store`), one MGET."""
        store = self._run_store
        assert store is not None
        keys = [key for job_id in job_ids for key in (self.keys.job(job_id), store.keys.run(job_id))]
        with redis_errors(self.client):
            raws = await self.client.mget(keys)
        return builtins.list(zip(raws[::2], raws[1::2], strict=True))

    async def _submit_many(self, items: builtins.list[_Item]) -> builtins.list[Any]:
        ttl = self.settings.result_ttl
        keys = [self.keys.jobs_stream, self.keys.jobs_index]
        return await self._batch(self._submit, keys, [ttl, repr(time.time() - ttl)], items, relayout=False)

    async def _finish_many(self, items: builtins.list[_Item]) -> builtins.list[builtins.list[Any]]:
        store = self._run_store
        run_ttl = "" if store is None or store.run_ttl is None else store.run_ttl
        shared = [self.keys.jobs_group, repr(time.time()), self.settings.result_ttl, self.keys.jobs_done, run_ttl,
                  self.settings.dead_letters_maxlen]
        return await self._batch(self._finish, [self.keys.jobs_stream, self.keys.jobs_dead], shared, items)

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

    async def _finished(self, job_id: str, timeout: float | None) -> tuple[Job, RunResult | None]:  # noqa: ASYNC109
        """:meth:`_job_and_run` once the job is finished (woken by ``jobs:done``), or the last seen."""
        seen: tuple[Job, RunResult | None] | None = None

        async def finished(_fired: set[str] | None) -> bool:
            nonlocal seen
            seen = await self._job_and_run(job_id)
            return seen[0].finished

        await self._signals.until(job_id, finished, timeout)
        assert seen is not None
        return seen

    async def _job_and_run(self, job_id: str) -> tuple[Job, RunResult | None]:
        """The job's record, and its run record if it ended completed or failed: one round trip
        when the runs are on this Redis (a job's run id is its id), shared by the look-ups of
        the same event-loop turn."""
        store = self._run_store
        if store is None:
            job = await self.status(job_id)
            return job, await self.store.get_run(job.run_id) if job.status in ("completed", "failed") else None
        raw_job, raw_run = await self._reads(job_id)
        if raw_job is None:
            raise JobError(job_id, "unknown job (never submitted, or its record expired)")
        job = Job.model_validate_json(raw_job)
        if job.status not in ("completed", "failed"):
            return job, None
        if job.run_id != job_id:
            return job, await store.get_run(job.run_id)
        return job, None if raw_run is None else RunResult.model_validate_json(raw_run)

    async def _batch(self, script: AsyncScript, keys: builtins.list[str], args: builtins.list[Any],
                     items: Sequence[_Item], *, relayout: bool = True) -> builtins.list[Any]:
        """Run a batched script (the shared ``keys`` and ``args``, then each item's) on ``items``,
        ``_BATCH`` at a time: one reply per item. With ``relayout`` (START, FINISH), records in
        an older layout are rewritten and their items run again."""

        async def run(chosen: Sequence[_Item]) -> builtins.list[Any]:
            return builtins.list(await script([*keys, *(k for item in chosen for k in item.keys)],
                                              [*args, *(a for item in chosen for a in item.args)]))

        replies: builtins.list[Any] = []
        with redis_errors(self.client):
            for start in range(0, len(items), _BATCH):
                replies += await run(items[start:start + _BATCH])
            if not relayout:
                return replies
            redo = [n for n, reply in enumerate(replies) if text(reply[0]) == "relayout"]
            for n in redo:
                await self._update(items[n].job_id, lambda job: job, rewrite=True)
            if redo:
                for n, reply in zip(redo, await run([items[n] for n in redo]), strict=True):
                    replies[n] = reply
        for item, reply in zip(items, replies, strict=True):
            if text(reply[0]) == "relayout":
                raise StoreError(f"job {item.job_id}: the record does not have the layout of a Job")
        return replies

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


@dataclass(frozen=True, slots=True)
class JobHandle:
    """A submitted job: ``await handle.result()`` waits for its run; status, events and cancel too."""

    id: str
    queue: JobQueue

    async def status(self) -> Job:
        """The job's record (see :meth:`JobQueue.status`)."""
        return await self.queue.status(self.id)

    async def result(self, timeout: float | None = None) -> RunResult:  # noqa: ASYNC109 - documented API
        """Wait until the job finishes and return its run; JobError if it did not complete a run
        (cancelled, failed before running, dead-lettered) or ``timeout`` passed first."""
        return await self.queue.result(self.id, wait=True, timeout=timeout)

    def events(
        self, *, follow: bool = True, after: str | None = None, timeout: float | None = None
    ) -> AsyncIterator[tuple[str, Event]]:
        """The run's events as ``(cursor, event)``, by default following them to the end."""
        return self.queue.events(self.id, after=after, follow=follow, timeout=timeout)

    async def cancel(self) -> Job:
        """Cancel the job (see :meth:`JobQueue.cancel`)."""
        return await self.queue.cancel(self.id)


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


__all__ = ["TERMINAL", "Delivery", "Job", "JobHandle", "JobQueue", "JobStatus",
           "QueueSettings"]
