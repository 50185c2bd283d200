"""Worker-side lease transitions: how a worker reads, starts, keeps, finishes and hands back jobs.

A delivery (a stream entry pending for one consumer of the group) is the worker's lease on a
job: the worker keeps it by touching the entry (resetting its idle time); an entry idle beyond
``visibility_timeout`` is taken over by another worker (XAUTOCLAIM). START and FINISH are Lua
scripts (:mod:`orchestrator.queue.scripts`) that take a batch: a worker starts the jobs of one
stream read with one call and finishes the jobs that end in the same event-loop turn with one
call. Retry and release are WATCH/MULTI transactions. :class:`~orchestrator.queue.Worker`
drives these; they are public so other workers (or tests) can drive them too.

With several queue shards, a worker reads and reclaims from every shard's stream, starting
with a different shard each call and asking each for its share of the free slots first, so no
shard starves while another has work; it blocks on one shard at a time (``block_ms`` split over
the shards) only when every shard is empty. Leases are per shard: a delivery carries its shard,
and touching or handing back entries names the shard (message ids are unique per stream).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from orchestrator.errors import JobError, LeaseLost
from orchestrator.keys import KeySpace
from orchestrator.logging import get_logger
from orchestrator.queue import scripts
from orchestrator.queue._redis import BATCH, Item, RedisQueueBase, as_json, deliveries
from orchestrator.queue.jobs import Delivery, Job, JobStatus, unknown
from orchestrator.redis.batching import Coalescer
from orchestrator.redis.connection import mget, redis_errors, text
from orchestrator.settings import QueueSettings
from orchestrator.store import Store
from orchestrator.types import Event, RunResult

log = get_logger(__name__)


class WorkerLeases(RedisQueueBase):
    """The ``worker_*`` transitions of :class:`~orchestrator.queue.JobQueue`."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace, settings: QueueSettings | None = None, *,
                 store: Store | None = None, owns_client: bool = False) -> None:
        super().__init__(client, keys, settings, store=store, owns_client=owns_client)
        self._finishes: Coalescer[Item, builtins.list[Any]] = Coalescer(self._finish_many, max_batch=BATCH)
        self._touch = client.register_script(scripts.TOUCH)
        self._rotation = 0

    async def aclose(self) -> None:
        await self._finishes.aclose()
        await super().aclose()

    def _shards_in_turn(self) -> builtins.list[int]:
        """Every shard, starting with the next one in turn (so each gets to go first)."""
        shards = self.keys.shards
        first, self._rotation = self._rotation, (self._rotation + 1) % shards
        return [(first + n) % shards for n in range(shards)]

    async def _read_shard(self, shard: int, consumer: str, count: int, block_ms: int | None) -> builtins.list[Delivery]:
        with redis_errors(self.client):
            reply: Any = await self.client.xreadgroup(
                self.keys.jobs_group, consumer, {self.keys.shard_stream(shard): ">"}, count=count, block=block_ms
            )
        return [d for _stream, entries in reply or [] for d in deliveries(entries, shard)]

    async def worker_read(self, consumer: str, count: int, block_ms: int) -> builtins.list[Delivery]:
        """New deliveries for ``consumer`` (XREADGROUP, blocking up to ``block_ms``), from every
        shard fairly (see the module docstring)."""
        await self._ensure_group()
        shards = self._shards_in_turn()
        if len(shards) == 1:
            return await self._read_shard(shards[0], consumer, count, block_ms)
        share = -(-count // len(shards))
        found: builtins.list[Delivery] = []
        full: builtins.list[int] = []
        for shard in shards:
            if len(found) >= count:
                break
            got = await self._read_shard(shard, consumer, min(share, count - len(found)), None)
            found += got
            if len(got) == share:
                full.append(shard)
        for shard in full:  # slots left over by shards with less than their share
            if len(found) >= count:
                break
            found += await self._read_shard(shard, consumer, count - len(found), None)
        if not found:
            found = await self._read_shard(shards[0], consumer, count, max(1, block_ms // len(shards)))
        return found

    async def worker_reclaim(self, consumer: str, count: int) -> builtins.list[Delivery]:
        """Deliveries idle longer than the visibility timeout, taken over (XAUTOCLAIM), from
        every shard (starting with the next one in turn)."""
        await self._ensure_group()
        min_idle = int(self.settings.visibility_timeout * 1000)
        taken: builtins.list[Delivery] = []
        with redis_errors(self.client):
            for shard in self._shards_in_turn():
                if len(taken) >= count:
                    break
                reply: Any = await self.client.xautoclaim(
                    self.keys.shard_stream(shard), self.keys.jobs_group, consumer, min_idle, "0-0",
                    count=count - len(taken)
                )
                taken += deliveries(reply[1], shard)
        if taken:
            log.warning("jobs.reclaimed", worker=consumer, jobs=[d.job_id for d in taken])
        return taken

    async def worker_touch(self, consumer: str, message_ids: builtins.list[str], *, shard: int = 0) -> set[str]:
        """Renew ``consumer``'s leases on ``shard``: reset the idle time of its in-flight deliveries,
        so nobody reclaims them. Returns the message ids it no longer holds (its leases are lost).

        Only entries still pending for ``consumer`` are touched, checked in the same script: one
        that another worker took over (after this one stalled) stays with that worker.
        """
        if not message_ids:
            return set()
        with redis_errors(self.client):
            lost: Any = await self._touch([self.keys.shard_stream(shard)],
                                          [self.keys.jobs_group, consumer, *message_ids])
        return {text(message_id) for message_id in lost}

    async def worker_hand_back(self, consumer: str, message_ids: Sequence[str], *, shard: int = 0) -> None:
        """Give deliveries of ``shard`` up at once (a START that failed, a shutdown): they stay
        pending, idle as if their lease had expired, so the next reclaim (by any worker) takes
        them immediately."""
        if not message_ids:
            return
        idle = int(self.settings.visibility_timeout * 1000) + 1
        with redis_errors(self.client):
            await self.client.xclaim(self.keys.shard_stream(shard), self.keys.jobs_group, consumer, 0,
                                     builtins.list(message_ids), idle=idle, justid=True)
        log.info("jobs.handed_back", worker=consumer, entries=len(message_ids))

    async def worker_cancel_requested(self, job_ids: builtins.list[str]) -> set[str]:
        """Which of ``job_ids`` have a cancellation request."""
        if not job_ids:
            return set()
        with redis_errors(self.client):
            flags = await mget(self.client, [self.keys.job_cancel(j) for j in job_ids])
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
        items = [Item(d.job_id, [self.keys.job(d.job_id), self.keys.job_cancel(d.job_id)], [d.job_id, d.message_id],
                      d.shard) for d in deliveries]
        replies = await self._batch(self._start, self._stream_and_dead, shared, items)
        return [await self._started(d, reply, worker) for d, reply in zip(deliveries, replies, strict=True)]

    async def _started(self, delivery: Delivery, reply: builtins.list[Any], worker: str) -> Job | None:
        job_id, outcome = delivery.job_id, text(reply[0])
        if outcome == "stale":
            log.info("job.stale_entry", job_id=job_id, message_id=delivery.message_id)
            return None
        if outcome == "poison":
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
        end: Event | None = None,
    ) -> Job:
        """Record the outcome of an attempt and acknowledge its delivery, in one step.

        ``run`` (the attempt's run record) is saved too, and ``end`` (the run's end event)
        written to its event stream: in the same script when the store is a
        :class:`RedisStore` on this Redis (so the stream ends exactly once, with the job), else
        with ``store.save_run`` before and ``store.emit`` after. With ``dead_letter``, the job
        is marked dead-lettered and added to the dead-letter stream.
        Fenced: if the attempt no longer owns the job (another worker took it over), nothing is
        written, the stream entry is left to the attempt holding it, and :class:`LeaseLost` is
        raised. Sending it again (after a blip) is safe: an outcome is recorded once.
        Attempts that finish in the same event-loop turn are recorded with one script call.
        """
        store = await self._runs_here()
        if run is not None and store is None:
            await self.store.save_run(run)
        keys = store.keys if store is not None else self.keys
        in_script = store is not None
        item = self._item(job.id, [self.keys.job(job.id), keys.run(job.run_id), keys.run_events(job.run_id)], [
            job.id, delivery.message_id, job.attempts, status, json.dumps(error), error or "",
            run.model_dump_json() if run is not None and in_script else "", "1" if dead_letter else "",
            end.model_dump_json() if end is not None and in_script else ""])
        reply = await self._finishes(item)
        outcome = text(reply[0])
        if outcome == "missing":
            raise unknown(job.id)
        if outcome == "poison":
            raise JobError(job.id, text(reply[1]))
        if outcome == "superseded":
            current = Job.model_validate_json(reply[1])
            log.warning("job.finish_refused", job_id=job.id, attempt=job.attempts, status=status,
                        owner_attempt=current.attempts, owner_status=current.status)
            raise LeaseLost(job.id, job.attempts, "outcome")
        updated = Job.model_validate_json(reply[1])
        log.info("job.finished", job_id=job.id, status=updated.status, attempt=job.attempts)
        if end is not None and not in_script and (updated.status, updated.error) == (status, error):
            await self.store.emit(end)  # the outcome is this attempt's (not one START gave the job)
        return updated

    async def _finish_many(self, items: builtins.list[Item]) -> builtins.list[builtins.list[Any]]:
        store = self._run_store
        run_ttl = "" if store is None or store.run_ttl is None else store.run_ttl
        events = (store.events_maxlen, "" if store.events_ttl is None else store.events_ttl) if store else (1, "")
        shared = [self.keys.jobs_group, repr(time.time()), self.settings.result_ttl, self.keys.jobs_done, run_ttl,
                  self.settings.dead_letters_maxlen, *events]
        return await self._batch(self._finish, self._stream_and_dead, shared, items)

    def _stream_and_dead(self, shard: int) -> builtins.list[str]:
        return [self.keys.shard_stream(shard), self.keys.shard_dead(shard)]

    async def worker_retry(self, job: Job, delivery: Delivery, error: str) -> Job:
        """Queue the job again after a retryable failure (new stream entry, same run id).

        Fenced: raises :class:`LeaseLost` (and leaves the stream alone) if the attempt no longer owns the job."""

        def requeue(current: Job) -> Job | None:
            if not _owned_by(current, job):
                return None
            return current.model_copy(update={"status": "queued", "error": error})

        def after(pipe: Pipeline, _job: Job) -> None:
            self._ack(pipe, delivery)
            pipe.xadd(self.keys.shard_stream(delivery.shard), {"job": job.id})

        updated, changed = await self._update(job.id, requeue, after)
        if not changed:
            log.warning("job.retry_refused", job_id=job.id, attempt=job.attempts)
            raise LeaseLost(job.id, job.attempts, "retry")
        assert updated is not None
        log.warning("job.retry", job_id=job.id, attempt=job.attempts, error=error)
        return updated

    async def worker_release(self, job: Job, reason: str, delivery: Delivery | None = None) -> None:
        """Hand an interrupted job back: status queued, its delivery (if given) handed back for an
        immediate reclaim, else left pending until its lease expires. Nothing if the attempt no
        longer owns the job."""

        def release(current: Job) -> Job | None:
            if not _owned_by(current, job):
                return None
            return current.model_copy(update={"status": "queued", "error": reason})

        _updated, changed = await self._update(job.id, release)
        if changed and delivery is not None and job.worker is not None:
            await self.worker_hand_back(job.worker, [delivery.message_id], shard=delivery.shard)
        log.warning("job.released" if changed else "job.release_refused", job_id=job.id, reason=reason)

    async def worker_heartbeat(self, name: str, info: Mapping[str, Any]) -> None:
        """Publish a worker's status (expires unless refreshed)."""
        ttl = max(1, int(self.settings.visibility_timeout * 3))
        with redis_errors(self.client):
            await self.client.set(self.keys.worker(name), as_json(info), ex=ttl)

    async def worker_gone(self, name: str) -> None:
        """Remove a stopped worker's status."""
        with redis_errors(self.client):
            await self.client.delete(self.keys.worker(name))


def _owned_by(current: Job, attempt: Job) -> bool:
    """Does ``attempt`` (the record its START returned) still own the job ``current`` describes?"""
    return current.status == "running" and current.attempts == attempt.attempts


__all__ = ["WorkerLeases"]
