"""The worker: takes jobs from the Redis queue and runs them, up to N at a time.

::

    worker = Worker(orchestrator, JobQueue.from_url(url, keys), concurrency=8)
    await worker.run(stop)          # until ``stop`` is set (SIGTERM/SIGINT in the CLI)

Per job: start an attempt (counted in the record), run it with ``run_id = job id``, record the
outcome, save the run record and acknowledge the stream entry in one step. Every job of one
stream read is started with one round trip, and jobs that end in the same event-loop turn are
finished with one (see :mod:`orchestrator.queue.leases`). While a job runs, a maintenance
loop touches its entry (so nobody reclaims it), watches its cancel flag, and takes over
entries that a dead worker left idle beyond the visibility timeout; a reclaimed job runs
again under the same run id, so the checkpointer resumes it and completed steps are not
repeated. Outcomes:

- the run returns a :class:`~orchestrator.types.RunResult`: completed, failed or cancelled
  as the result says (no retry: the executor already handled the failure);
- the run raises :class:`~orchestrator.errors.UserError` or ``PlanError`` (bad target, bad
  inputs, bad plan): failed at once, no retry;
- any other exception: retried, and after ``max_attempts`` failed and dead-lettered;
- cancel requested: the run is cancelled and the job recorded cancelled;
- shutdown: in-flight jobs get ``shutdown_grace`` seconds, then are cancelled and handed
  back for another worker;
- lease lost (another worker took the job over, or this one could not renew its lease for a
  visibility timeout): the run is cancelled, nothing is recorded, and the worker says so
  (``job.lease_lost`` in the log, a ``run.lease_lost`` event). Each attempt runs fenced
  (:mod:`orchestrator.redis.fencing`): whatever a stale attempt still writes is refused. That
  takes the run store and checkpointer on the queue's Redis: a worker whose queue or runner has
  a Redis store elsewhere refuses to start (ConfigError), and an attempt's write to another
  Redis fails (ConfigError: the job fails with that reason) instead of going unfenced.

Recovery: entries whose START failed are handed back at once (not parked until their lease
expires); a reclaim that fills every free slot is followed by another at once, so a backlog
drains at full speed; a FINISH that fails on a Redis blip is sent again (it is idempotent)
for up to ``2 * visibility_timeout`` (at least 30 s) before the job is left to be reclaimed.

A run's end event (``run.finished``/``run.failed``) is the worker's to write, with the job's
outcome (in the FINISH script when the store shares the queue's Redis): the runner is told to
leave it out (:func:`~orchestrator.events.leave_run_end_to_caller`, and end events it sends to
a forwarded sink are dropped), so an attempt retried after its run's end, or a stale one, never
ends the stream, and a follower that sees the end finds the job finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from orchestrator import telemetry
from orchestrator.errors import LeaseLost, PlanError, StoreError, UserError
from orchestrator.events import EventSink, WithoutEnd, end_event, leave_run_end_to_caller
from orchestrator.logging import get_logger
from orchestrator.queue.client import JobQueue
from orchestrator.queue.jobs import Delivery, Job, JobRunner, JobStatus
from orchestrator.redis import fencing
from orchestrator.redis.connection import Server, server
from orchestrator.store.redis import RedisStore
from orchestrator.types import Event, RunResult

log = get_logger(__name__)

_NOT_RETRYABLE = (UserError, PlanError)
_START_BACKOFF = 0.5
"""Seconds to wait after a failed START before taking the handed-back entries again."""
_FINISH_RETRY_MIN = 30.0
"""A FINISH is retried for at least this long (and ``2 * visibility_timeout``)."""

_UNREPORTED_MAX = 1000
_RENEWALS_IN_FLIGHT = 3
"""Lease renewals a worker has in flight at most: one per third of the visibility timeout, so every
renewal due in a lease's life is sent, however many of the earlier ones are still unanswered."""

_Stop = Literal["cancelled", "shutdown", "lease_lost"]


@dataclass
class _InFlight:
    job: Job
    delivery: Delivery
    run: asyncio.Task[RunResult] | None = None
    stop_reason: _Stop | None = None
    renewed: float = field(default_factory=time.monotonic)
    """When the lease was last renewed (or taken), on the monotonic clock."""
    fence: fencing.Fence | None = None


@dataclass
class _Stats:
    started_at: float = field(default_factory=time.time)
    processed: int = 0
    failed: int = 0
    leases_lost: int = 0


class Worker:
    """Runs queued jobs with ``runner``.

    ``forward_events``: pass the queue's store to the runner as its event sink. By default
    this happens only when the runner has no ``store`` attribute (an ``Orchestrator`` writes
    every event to its own store, which on Redis is the queue's).
    """

    def __init__(
        self,
        runner: JobRunner,
        queue: JobQueue,
        *,
        concurrency: int | None = None,
        name: str | None = None,
        forward_events: bool | None = None,
    ) -> None:
        self.runner = runner
        self.queue = queue
        self.settings = queue.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        if forward_events is None:
            forward_events = not hasattr(runner, "store")
        self._events: EventSink | None = WithoutEnd(queue.store) if forward_events else None
        self._in_flight: dict[str, _InFlight] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        """Jobs whose run has not returned yet: they hold the ``concurrency`` slots (recording an
        outcome does not, so the next jobs start while the last ones are being recorded)."""
        self._slot_freed = asyncio.Event()
        self._hand_back: list[Delivery] = []
        """Entries whose START failed, to give up at once (see :meth:`JobQueue.worker_hand_back`)."""
        self._unreported: list[Event] = []
        """``run.lease_lost`` events not written yet (Redis was unreachable): sent when it is back."""
        self._stats = _Stats()
        self._next_renewal = 0.0
        self._next_heartbeat = 0.0
        self._server: Server | None = None
        """The queue's Redis (read when the worker starts): where its attempts' fenced writes go."""
        self._log = log.bind(worker=self.name)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Process jobs until ``stop`` is set, then shut down gracefully.

        Redis must be reachable at the start (else :class:`~orchestrator.errors.StoreError`, at
        once: a wrong URL is not retried forever); later outages are waited out.
        """
        stop = stop or asyncio.Event()
        await self._check_fencing()
        await self.queue.worker_heartbeat(self.name, self._status(stop))
        self._log.info("worker.started", concurrency=self.concurrency)
        maintenance = asyncio.create_task(self._maintain(stop), name=f"{self.name}-maintenance")
        try:
            await self._consume(stop)
        finally:
            await self._drain()
            maintenance.cancel()
            await asyncio.gather(maintenance, return_exceptions=True)
            with contextlib.suppress(StoreError):
                await self.queue.worker_gone(self.name)
            self._log.info("worker.stopped", processed=self._stats.processed, failed=self._stats.failed)

    async def _check_fencing(self) -> None:
        """:class:`~orchestrator.errors.ConfigError` if the queue's or the runner's run store is a
        Redis other than the queue's: its writes could not be fenced (:mod:`orchestrator.redis.fencing`)."""
        self._server = queue = await server(self.queue.client)
        for owner, store in (("the queue", self.queue.store), ("the runner", getattr(self.runner, "store", None))):
            client = getattr(store, "client", None)
            if isinstance(store, RedisStore) and client is not None:
                fencing.check_same_server(queue, await server(client), f"the run records and events of {owner}'s store")

    # -- the loop ------------------------------------------------------------

    async def _consume(self, stop: asyncio.Event) -> None:
        block_ms = max(1, int(self.settings.poll_interval * 1000))
        reclaim_every = max(0.05, self.settings.visibility_timeout / 2)
        next_reclaim = 0.0
        while not stop.is_set():
            self._slot_freed.clear()
            free = self.concurrency - len(self._running)
            if free <= 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_interval):
                        await self._slot_freed.wait()
                continue
            try:
                await self._give_back()
                deliveries: list[Delivery] = []
                if time.monotonic() >= next_reclaim:
                    deliveries = await self.queue.worker_reclaim(self.name, free)
                    # every free slot filled: a backlog (e.g. handed back), so take more at once
                    next_reclaim = time.monotonic() + (0.0 if len(deliveries) >= free else reclaim_every)
                if not deliveries:
                    deliveries = await self.queue.worker_read(self.name, free, block_ms)
            except StoreError as exc:
                self._log.error("worker.redis_unavailable", error=str(exc))
                await _sleep_unless(stop, 1.0)
                continue
            flights = await self._start(deliveries)
            if flights is None:
                next_reclaim = 0.0  # the handed-back entries come back with the next reclaim
                await _sleep_unless(stop, _START_BACKOFF)
                continue
            for flight in flights:
                self._launch(flight)

    def _launch(self, flight: _InFlight) -> None:
        self._in_flight[flight.job.id] = flight
        telemetry.metrics.jobs_in_flight(len(self._in_flight))
        self._running.add(flight.job.id)
        task = asyncio.create_task(self._process(flight), name=f"job-{flight.job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, deliveries: list[Delivery]) -> list[_InFlight] | None:
        """Begin the attempts of ``deliveries`` (one round trip); those that must not run are
        dropped. ``None`` if START failed: the entries are handed back (at once if Redis lets us)."""
        if not deliveries:
            return []
        try:
            jobs = await self.queue.worker_start_many(deliveries, self.name)
        except Exception as exc:  # e.g. Redis at maxmemory, or down: give the entries up, not park them
            self._log.error("jobs.not_started", jobs=[d.job_id for d in deliveries], error=_describe(exc))
            self._hand_back += deliveries
            with contextlib.suppress(StoreError):
                await self._give_back()
            return None
        return [_InFlight(job, d) for d, job in zip(deliveries, jobs, strict=True) if job is not None]

    async def _give_back(self) -> None:
        """Hand back the entries of failed STARTs (kept for the next try if Redis refuses)."""
        for shard, entries in _by_shard(self._hand_back).items():
            await self.queue.worker_hand_back(self.name, [d.message_id for d in entries], shard=shard)
            self._hand_back = [d for d in self._hand_back if d.shard != shard]

    async def _drain(self) -> None:
        """Let in-flight jobs finish within the grace period, then hand the rest back."""
        if not self._tasks:
            return
        self._log.info("worker.draining", jobs=len(self._tasks), grace_s=self.settings.shutdown_grace)
        _done, pending = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace)
        if pending:
            for flight in self._in_flight.values():
                self._stop_run(flight, "shutdown")
            await asyncio.wait(pending, timeout=max(5.0, self.settings.shutdown_grace))
        for task in list(self._tasks):  # a job stuck even after cancellation
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _maintain(self, stop: asyncio.Event) -> None:
        """Renew in-flight leases, apply cancel requests, publish worker status; stop the runs
        whose lease is lost. The Redis calls run in tasks of their own that this loop never
        cancels (a cancelled call costs its connection, on a cluster every node's if it was
        refreshing the topology, and a new connection on a lossy link can take a second), each
        bounded by the socket timeout: the loop itself never waits on Redis, so lease expiry is
        checked every poll interval however slow Redis is. A renewal is due every
        ``visibility_timeout/3``; one that fails is tried again a poll interval later, and one
        still unanswered when the next is due gets the next one beside it (on another connection)."""
        every = max(0.05, self.settings.visibility_timeout / 3)
        renewals: set[asyncio.Task[None]] = set()
        chores: asyncio.Task[None] | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= self._next_renewal and len(renewals) < _RENEWALS_IN_FLIGHT:
                    self._next_renewal = now + every
                    renewal = asyncio.create_task(self._renew(now), name=f"{self.name}-renewal")
                    renewals.add(renewal)
                    renewal.add_done_callback(renewals.discard)
                if chores is None or chores.done():
                    chores = asyncio.create_task(self._chores(stop, every), name=f"{self.name}-chores")
                self._expire_leases()
                await asyncio.sleep(min(self.settings.poll_interval, every))
        finally:
            for task in [*renewals, *([chores] if chores is not None else [])]:
                task.cancel()
            await asyncio.gather(*renewals, *([chores] if chores is not None else []), return_exceptions=True)

    async def _renew(self, asked: float) -> None:
        """Touch the in-flight entries: renewed as of ``asked``, or lost to another worker."""
        flights = list(self._in_flight.values())
        lost: set[tuple[int, str]] = set()
        try:
            for shard, entries in _by_shard([f.delivery for f in flights]).items():
                lost |= {(shard, m) for m in await self.queue.worker_touch(
                    self.name, [d.message_id for d in entries], shard=shard)}
        except StoreError as exc:
            retry = self.settings.poll_interval
            self._log.warning("lease.renewal_failed", jobs=len(flights), error=str(exc), retry_in_s=retry)
            self._next_renewal = min(self._next_renewal, time.monotonic() + retry)
            return
        for flight in flights:
            if (flight.delivery.shard, flight.delivery.message_id) in lost:
                self._lose(flight, "another worker took the job over")
            else:
                flight.renewed = max(flight.renewed, asked)

    async def _chores(self, stop: asyncio.Event, every: float) -> None:
        """Write the unreported events, apply cancel requests, publish the worker's status (every ``every`` s)."""
        try:
            while self._unreported:
                await self.queue.store.emit(self._unreported[0])
                self._unreported.pop(0)
            flights = list(self._in_flight.values())
            for job_id in await self.queue.worker_cancel_requested([f.job.id for f in flights]):
                if job_id in self._in_flight:
                    self._stop_run(self._in_flight[job_id], "cancelled")
            if time.monotonic() >= self._next_heartbeat:
                await self.queue.worker_heartbeat(self.name, self._status(stop))
                self._next_heartbeat = time.monotonic() + every
        except StoreError as exc:
            self._log.error("worker.redis_unavailable", error=str(exc))
            await asyncio.sleep(self.settings.poll_interval)

    def _expire_leases(self) -> None:
        """A lease not renewed for a visibility timeout may be another worker's by now: stop its run."""
        expired = time.monotonic() - self.settings.visibility_timeout
        for flight in list(self._in_flight.values()):
            if flight.renewed < expired:
                self._lose(flight, f"could not renew the lease for {self.settings.visibility_timeout:g}s")

    def _lose(self, flight: _InFlight, why: str) -> None:
        if flight.run is not None and not flight.run.done() and flight.stop_reason is None:
            self._log.error("job.lease_lost", job_id=flight.job.id, attempt=flight.job.attempts, reason=why)
        self._stop_run(flight, "lease_lost")

    def _status(self, stop: asyncio.Event) -> dict[str, Any]:
        return {
            "name": self.name, "pid": os.getpid(), "host": socket.gethostname(),
            "state": "stopping" if stop.is_set() else "running", "concurrency": self.concurrency,
            "jobs": sorted(self._in_flight), "processed": self._stats.processed,
            "failed": self._stats.failed, "leases_lost": self._stats.leases_lost,
            "started_at": self._stats.started_at, "ts": time.time(),
        }

    def _stop_run(self, flight: _InFlight, reason: _Stop) -> None:
        if flight.run is not None and not flight.run.done() and flight.stop_reason is None:
            flight.stop_reason = reason
            flight.run.cancel()
            self._log.info("job.stopping", job_id=flight.job.id, reason=reason)

    # -- one job ---------------------------------------------------------------

    async def _process(self, flight: _InFlight) -> None:
        """Run one started job to a recorded outcome. Never raises (a bad job never kills us)."""
        try:
            await self._attempt(flight)
        except asyncio.CancelledError:
            raise
        except LeaseLost as exc:  # a write of this attempt (e.g. its FINISH) was refused
            await self._lost(flight, exc.reason)
        except Exception as exc:  # Redis down while recording: the entry stays pending, reclaimed later
            self._log.error("job.unrecorded", job_id=flight.job.id, error=_describe(exc))
        finally:
            self._in_flight.pop(flight.job.id, None)
            telemetry.metrics.jobs_in_flight(len(self._in_flight))
            self._run_ended(flight.job.id)

    def _run_ended(self, job_id: str) -> None:
        self._running.discard(job_id)
        self._slot_freed.set()

    async def _attempt(self, flight: _InFlight) -> None:
        job = flight.job
        flight.fence = fence = fencing.Fence(job.id, self.queue.keys.job(job.id), job.attempts,
                                             self._server or await server(self.queue.client))
        leave_run_end_to_caller()  # this task's context, which the run's copies: the end is ours
        with telemetry.attach(job.trace):  # the run joins the submitter's trace
            telemetry.record_queued(job.id, job.attempts, job.created_at)
            flight.run = fencing.run_fenced(fence, self.runner.run(
                job.target, job.inputs, run_id=job.run_id, sensitivity=job.sensitivity, events=self._events,
            ), name=f"run-{job.id}")
        flight.run.add_done_callback(lambda _run: self._run_ended(job.id))
        result: RunResult | None = None
        error: Exception | None = None
        try:
            result = await asyncio.shield(flight.run)
        except asyncio.CancelledError:
            if flight.stop_reason is None:  # this task itself was cancelled: hand the job back
                flight.run.cancel()
                await asyncio.gather(flight.run, return_exceptions=True)
                await self.queue.worker_release(job, "interrupted by worker shutdown", flight.delivery)
                raise
        except Exception as exc:
            error = exc
        await self._outcome(flight, result, error)

    async def _outcome(self, flight: _InFlight, result: RunResult | None, error: Exception | None) -> None:
        """Record what became of an attempt whose run ended (returned, raised, or was stopped)."""
        if flight.stop_reason == "shutdown":
            await self.queue.worker_release(flight.job, "interrupted by worker shutdown", flight.delivery)
        elif flight.stop_reason == "lease_lost" or isinstance(error, LeaseLost):
            await self._lost(flight, error.reason if isinstance(error, LeaseLost) else "its lease was lost")
        elif result is not None and result.status != "cancelled":
            await self._record(flight, result)
        elif flight.stop_reason == "cancelled" or result is not None:
            await self._end(flight, "cancelled", "cancelled while running", run=result)
        elif error is not None:
            await self._failed(flight, error)

    async def _record(self, flight: _InFlight, result: RunResult) -> None:
        """A run that returned: its status decides the job's (no retry); its record is saved with it."""
        status: JobStatus = "completed" if result.status == "completed" else "failed"
        end = end_event(result.model_copy(update={"run_id": flight.job.run_id}))
        await self._finish(flight, status, result.error, run=result, end=end)
        self._stats.processed += 1
        if status != "completed":
            self._stats.failed += 1

    async def _failed(self, flight: _InFlight, error: Exception) -> None:
        """A run that raised: user errors fail at once, others retry until dead-lettered."""
        job, reason = flight.job, _describe(error)
        if isinstance(error, _NOT_RETRYABLE):
            await self._end(flight, "failed", reason)
        elif job.attempts >= self.settings.max_attempts:
            await self._end(flight, "failed", f"dead-lettered after {job.attempts} attempts; last error: {reason}",
                            dead_letter=True)
        else:
            await self.queue.worker_retry(job, flight.delivery, reason)
            telemetry.metrics.job_retried()

    async def _end(self, flight: _InFlight, status: JobStatus, error: str, *, run: RunResult | None = None,
                   dead_letter: bool = False) -> None:
        """Record a run that ended without a usable result, and close its event stream."""
        end = Event(type="run.failed", run_id=flight.job.run_id, data={"status": status, "error": error})
        await self._finish(flight, status, error, run=run, dead_letter=dead_letter, end=end)
        self._stats.processed += 1
        self._stats.failed += 1

    async def _finish(self, flight: _InFlight, status: JobStatus, error: str | None, *,
                      run: RunResult | None = None, dead_letter: bool = False, end: Event | None = None) -> None:
        """FINISH, sent again through Redis blips (it is idempotent and fenced) for a bounded time;
        :class:`LeaseLost` if another attempt owns the job. ``end``: the run's end event, written
        with the outcome."""
        deadline = time.monotonic() + max(_FINISH_RETRY_MIN, 2 * self.settings.visibility_timeout)
        delay = 0.1
        while True:
            try:
                await self.queue.worker_finish(flight.job, flight.delivery, status, error, run=run,
                                               dead_letter=dead_letter, end=end)
                telemetry.metrics.job_finished(status, dead_letter=dead_letter)
                return
            except StoreError as exc:
                if time.monotonic() + delay > deadline:
                    raise
                self._log.warning("job.finish_retry", job_id=flight.job.id, error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _lost(self, flight: _InFlight, why: str) -> None:
        """The attempt lost its lease: nothing is recorded (the job is another attempt's); say so."""
        job = flight.job
        self._stats.leases_lost += 1
        self._log.error("job.lease_lost", job_id=job.id, attempt=job.attempts, reason=why, recorded=False)
        event = Event(type="run.lease_lost", run_id=job.run_id,
                      data={"worker": self.name, "attempt": job.attempts, "reason": why})
        try:
            async with asyncio.timeout(self.settings.poll_interval * 4):
                # still ours after all (e.g. Redis was only slow): hand it back for a resume now
                await self.queue.worker_release(job, f"stopped: {why}", flight.delivery)
        except (StoreError, TimeoutError) as exc:
            self._log.warning("job.release_failed", job_id=job.id, error=str(exc) or "timed out")
        if len(self._unreported) < _UNREPORTED_MAX:
            self._unreported.append(event)  # the maintenance loop writes it (now, or once Redis is back)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _by_shard(deliveries: list[Delivery]) -> dict[int, list[Delivery]]:
    """``deliveries`` grouped by queue shard (leases are renewed and handed back per stream)."""
    grouped: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        grouped.setdefault(delivery.shard, []).append(delivery)
    return grouped


__all__ = ["JobRunner", "Worker"]
