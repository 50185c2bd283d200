"""The queue's client: submit jobs, follow them, cancel them (:class:`JobQueue`, the Redis job backend).

Key layout (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:jobs:stream              stream  {"job": <id>}, read by group "workers"
    <prefix>:jobs:dead                stream  dead-lettered jobs: {"job", "error", "attempts"} (MAXLEN)
    <prefix>:jobs:index               zset    job ids by creation time (for ``list``)
    <prefix>:job:<id>                 string  :class:`~orchestrator.queue.Job` JSON (TTL ``result_ttl``)
    <prefix>:job:<id>:cancel          string  cancellation requested
    <prefix>:job-idempotency:<key>    string  "<job id> <fingerprint of target and inputs>" (SET NX)

    <prefix>:jobs:done                pub/sub channel: ids of jobs that reached a final status
                                      (space-separated, one message per script call)

In the sharded layout (``queue.shards`` > 1, or Redis Cluster) each shard ``N`` has its own
``jobs:stream``, ``jobs:dead`` and ``jobs:index`` under the hash tag ``{<prefix>:sN}``, and a
job id ends in ``.sN``: the job's record, cancel flag, run record, events and checkpoints share
its shard's slot (:mod:`orchestrator.keys`). A job without an idempotency key goes to the next
shard in turn; one with a key to the shard its key hashes to (where the key is stored). Every
guarantee below holds *per shard*: a job's transitions are atomic within its shard; ``list``
and ``dead_letters`` merge the shards (newest first, not one atomic view).

A job's run id is its job id, so a rerun after a worker crash resumes the same run from its
last checkpoint. Every change of a job record is atomic, and a transition that ends a delivery
also acknowledges (XACK) and deletes (XDEL) its stream entry in the same step: a job record
and the stream never disagree. Workers drive the transitions through the ``worker_*`` methods
(:mod:`orchestrator.queue.leases`). The jobs submitted in one event-loop turn are queued with
one script call, and ``result`` look-ups of one turn share one MGET. Every final status is
announced on ``jobs:done``, which is what ``result(wait=True)`` and ``wait`` listen to (one
subscription per process).

A job that keeps failing ends ``failed`` with ``dead_lettered`` set and the last error in its
record, and is added to the dead-letter stream.
"""

from __future__ import annotations

import builtins
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from orchestrator.errors import IdempotencyConflict, JobError
from orchestrator.keys import KeySpace
from orchestrator.logging import get_logger
from orchestrator.queue._redis import BATCH, PAGE, Item
from orchestrator.queue.backend import JobHandle
from orchestrator.queue.jobs import Job, JobStatus, new_job, parse_record, run_outcome, unknown
from orchestrator.queue.leases import WorkerLeases
from orchestrator.redis.batching import Coalescer
from orchestrator.redis.connection import connect, connect_settings, mget, redis_errors, text
from orchestrator.settings import QueueSettings
from orchestrator.store import Store
from orchestrator.types import Event, RunResult, Sensitivity

if TYPE_CHECKING:
    from orchestrator.settings import Settings

log = get_logger(__name__)

_PROBE_RUN = "__healthz__"


class JobQueue(WorkerLeases):
    """Submit jobs, follow them, cancel them; workers take them from the same Redis.

    ``store`` (default: a :class:`~orchestrator.store.RedisStore` on ``client``) holds the
    run records and events of jobs. ``client`` is borrowed unless built by :meth:`from_url`
    or :meth:`from_settings`. A :class:`~orchestrator.queue.JobBackend`.
    """

    def __init__(self, client: aioredis.Redis, keys: KeySpace, settings: QueueSettings | None = None, *,
                 store: Store | None = None, owns_client: bool = False) -> None:
        super().__init__(client, keys, settings, store=store, owns_client=owns_client)
        self._submits: Coalescer[Item, Any] = Coalescer(self._submit_many, max_batch=BATCH)
        self._reads: Coalescer[str, tuple[Any, Any]] = Coalescer(self._read_many, max_batch=PAGE // 2)
        self._next_shard = 0

    @classmethod
    def from_url(cls, url: str, keys: KeySpace, settings: QueueSettings | None = None) -> JobQueue:
        """A queue with its own client (closed by :meth:`aclose`)."""
        return cls(connect(url), keys, settings, owns_client=True)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> JobQueue:
        """The deployment's queue, with its own client: ``redis_url``, ``key_prefix``, ``[queue]``
        (``overrides`` replace fields of it) and ``[redis]``. ConfigError without Redis."""
        client = connect_settings(settings, "the job queue")
        queue_settings = settings.queue.model_copy(update=overrides) if overrides else settings.queue
        return cls(client, settings.keyspace, queue_settings, owns_client=True)

    def handle(self, job_id: str) -> JobHandle:
        """A :class:`JobHandle` on ``job_id`` (not checked: an unknown id fails on first use)."""
        return JobHandle(job_id, self)

    async def aclose(self) -> None:
        """Stop listening for finished jobs; close the client if this queue owns it."""
        await self._submits.aclose()
        await self._reads.aclose()
        await super().aclose()

    async def ping(self) -> None:
        """Raise :class:`~orchestrator.errors.StoreError` if Redis is unreachable."""
        await self.store.get_run(_PROBE_RUN)

    async def run_record(self, job_id: str) -> RunResult | None:
        """The run record of a job (``None`` before it starts)."""
        job = await self.status(job_id)
        return await self.store.get_run(job.run_id)

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
        if idempotency_key is not None:
            shard = self.keys.shard_for(idempotency_key)
        else:
            shard, self._next_shard = self._next_shard, (self._next_shard + 1) % self.keys.shards
        job_id = self.keys.new_job_id(uuid.uuid4().hex, shard)
        job = new_job(job_id, target, inputs, sensitivity=sensitivity, idempotency_key=idempotency_key)
        fingerprint = job.fingerprint() if idempotency_key is not None else ""
        dedupe_key = self.keys.job_idempotency(idempotency_key) if idempotency_key is not None else ""
        dedupe_value = f"{job_id} {fingerprint}" if dedupe_key else ""
        item = self._item(job_id, [self.keys.job(job_id), dedupe_key or self.keys.job(job_id)],
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
            raise unknown(job_id)
        return parse_record(job_id, raw)

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
        return run_outcome(job, run, waited=wait, timeout=timeout)

    async def wait(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the documented API
        on_finished: Callable[[Job], Awaitable[None] | None] | None = None,
    ) -> builtins.list[Job]:
        """Wait until every job of ``job_ids`` is finished; their records, in the same order.

        One waiter for any number of jobs: it reads every record once, then only those of jobs
        announced on ``jobs:done`` (a batched GET), so each finished job costs O(1). Raises
        :class:`JobError` for an unknown id, or when ``timeout`` passes first. ``on_finished``
        is called (and awaited, if it is a coroutine function) with each job's record as it is
        found finished, once per job (e.g. for a progress line).
        """
        pending = set(job_ids)
        found: dict[str, Job] = {}

        async def all_finished(fired: set[str] | None) -> bool:
            ids = builtins.list(pending if fired is None else pending & fired)
            for start in range(0, len(ids), PAGE):
                page = ids[start:start + PAGE]
                with redis_errors(self.client):
                    raws = await mget(self.client, [self.keys.job(job_id) for job_id in page])
                for job_id, raw in zip(page, raws, strict=True):
                    if raw is None:
                        raise unknown(job_id)
                    job = parse_record(job_id, raw)
                    if job.finished:
                        found[job_id] = job
                        pending.discard(job_id)
                        if on_finished is not None and inspect.isawaitable(called := on_finished(job)):
                            await called
            return not pending

        if not await self._signals.until(pending, all_finished, timeout):
            total = len(found) + len(pending)
            raise JobError(min(pending), f"not finished within {timeout:g}s ({len(pending)} of {total} unfinished)")
        return [found[job_id] for job_id in job_ids]

    async def add_to_batch(self, batch_id: str, job_ids: Sequence[str]) -> None:
        """Record ``job_ids`` as members of the batch ``batch_id`` (kept as long as job records)."""
        if not job_ids:
            return
        key = self.keys.batch(batch_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.rpush(key, *job_ids)
                pipe.expire(key, self.settings.result_ttl)
                await pipe.execute()

    async def batch_jobs(self, batch_id: str) -> builtins.list[str]:
        """The job ids of a batch, in the order they were added (each once); JobError if unknown."""
        with redis_errors(self.client):
            ids = await self.client.lrange(self.keys.batch(batch_id), 0, -1)
        if not ids:
            raise JobError(batch_id, "unknown batch (never submitted, or its record expired)")
        return builtins.list(dict.fromkeys(text(i) for i in ids))

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

        announced = False

        def announce(pipe: Pipeline, _job: Job) -> None:
            nonlocal announced
            announced = self._announce(pipe, job_id)

        updated, changed = await self._update(job_id, cancel_queued, announce)
        assert updated is not None
        if changed and not announced:
            with redis_errors(self.client):
                await self.client.publish(self.keys.jobs_done, job_id)
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
                ids = await self._newest(start, page)
                if not ids:
                    break
                raws = await mget(self.client, [self.keys.job(text(i)) for i in ids])
            for job_id, raw in zip(ids, raws, strict=True):
                try:
                    job = None if raw is None else parse_record(text(job_id), raw)
                except JobError:  # corrupt: the worker that meets it dead-letters it
                    continue
                if job is not None and (status is None or job.status == status):
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

    async def _newest(self, start: int, count: int) -> builtins.list[Any]:
        """Job ids ``start`` to ``start + count`` of the index, newest first (merged over the shards)."""
        if self.keys.shards == 1:
            return builtins.list(await self.client.zrevrange(self.keys.jobs_index, start, start + count - 1))
        scored: builtins.list[tuple[Any, float]] = []
        for shard in range(self.keys.shards):
            page: Any = await self.client.zrevrange(self.keys.shard_index(shard), 0, start + count - 1, withscores=True)
            scored += page
        scored.sort(key=lambda pair: pair[1], reverse=True)
        return [job_id for job_id, _score in scored[start:start + count]]

    async def depth(self) -> int:
        """Jobs queued and not yet delivered to any worker (the consumer group's lag, every shard)."""
        total = 0
        with redis_errors(self.client):
            for shard in range(self.keys.shards):
                try:
                    groups = await self.client.xinfo_groups(self.keys.shard_stream(shard))
                except ResponseError:  # no stream yet: nothing was ever queued on this shard
                    continue
                group = self.keys.jobs_group
                total += sum(int(g.get("lag") or 0) for g in groups if text(g.get("name") or "") == group)
        return total

    async def dead_letters(self, limit: int = 100) -> builtins.list[dict[str, str]]:
        """The newest dead-lettered jobs: ``{"job", "error", "attempts"}`` (merged over the shards)."""
        entries: builtins.list[tuple[tuple[int, int], Any]] = []
        with redis_errors(self.client):
            for shard in range(self.keys.shards):
                found: Any = await self.client.xrevrange(self.keys.shard_dead(shard), count=limit)
                entries += [(_entry_order(entry_id), fields) for entry_id, fields in found]
        entries.sort(key=lambda entry: entry[0], reverse=True)
        return [{text(k): text(v) for k, v in fields.items()} for _order, fields in entries[:limit]]


    async def _read_many(self, job_ids: builtins.list[str]) -> builtins.list[tuple[Any, Any]]:
        """The raw job and run records of ``job_ids`` (runs in :attr:`_run_store`), one MGET."""
        store = self._run_store
        assert store is not None
        keys = [key for job_id in job_ids for key in (self.keys.job(job_id), store.keys.run(job_id))]
        with redis_errors(self.client):
            raws = await mget(self.client, keys)
        return builtins.list(zip(raws[::2], raws[1::2], strict=True))

    async def _submit_many(self, items: builtins.list[Item]) -> builtins.list[Any]:
        ttl = self.settings.result_ttl

        def keys(shard: int) -> builtins.list[str]:
            return [self.keys.shard_stream(shard), self.keys.shard_index(shard)]

        return await self._batch(self._submit, keys, [ttl, repr(time.time() - ttl)], items, relayout=False)


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
        store = await self._runs_here()
        if store is None:
            job = await self.status(job_id)
            return job, await self.store.get_run(job.run_id) if job.status in ("completed", "failed") else None
        raw_job, raw_run = await self._reads(job_id)
        if raw_job is None:
            raise unknown(job_id)
        job = parse_record(job_id, raw_job)
        if job.status not in ("completed", "failed"):
            return job, None
        if job.run_id != job_id:
            return job, await store.get_run(job.run_id)
        return job, None if raw_run is None else RunResult.model_validate_json(raw_run)


def _entry_order(entry_id: Any) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) as a sortable pair."""
    ms, _, seq = text(entry_id).partition("-")
    return int(ms), int(seq or 0)


__all__ = ["JobQueue"]
