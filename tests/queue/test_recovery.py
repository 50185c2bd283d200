"""Recovery that is fast and complete (issue 13 bugs 3-5): failed STARTs handed back at once, a
backlog reclaimed at full speed, a poison record dead-lettered alone, FINISH retried through a blip.

The visibility timeout here is long (60 s) and every wait is bounded well below it: a job parked
until its lease expires (the old behaviour) fails these tests instead of finishing late.

The hand-back, backlog and poison tests run on one Redis and on the local Redis Cluster; the
maxmemory and blip tests drive one ``redis-server`` of their own (or a TCP proxy in front of
one), so they run on one Redis only (the FINISH blip on a cluster: tests/queue/test_run_end.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import JobError
from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.queue import Delivery, JobQueue, QueueSettings, Worker
from orchestrator.redis.connection import connect
from orchestrator.settings import RedisSettings
from orchestrator.types import RunResult, Sensitivity
from tests.conftest import TOPOLOGIES, parametrize_topology
from tests.queue.app import StepRunner
from tests.queue.conftest import running
from tests.queue.proxy import Proxy
from tests.reliability.test_redis_restart import RedisServer

SLOW_LEASES = QueueSettings(visibility_timeout=60.0, max_attempts=3, worker_concurrency=4, result_ttl=600,
                            events_ttl=600, shutdown_grace=2.0, poll_interval=0.05)
BOUND = 30.0
"""Seconds a test waits for its jobs: half the visibility timeout."""

ON_EVERY_TOPOLOGY = {"test_handed_back_entries_are_reclaimed_at_once",
                     "test_a_backlog_of_reclaimable_jobs_drains_at_full_speed",
                     "test_a_corrupt_record_is_dead_lettered_alone"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ in ON_EVERY_TOPOLOGY:
        parametrize_topology(metafunc, TOPOLOGIES)


@pytest.fixture
async def slow_queue(redis_client: aioredis.Redis, keyspace: KeySpace) -> AsyncIterator[JobQueue]:
    queue = JobQueue(redis_client, keyspace, SLOW_LEASES)
    yield queue
    await queue.aclose()


async def test_handed_back_entries_are_reclaimed_at_once(slow_queue: JobQueue) -> None:
    ids = [await slow_queue.submit("steps") for _ in range(3)]
    deliveries = await slow_queue.worker_read("a", 3, 100)
    assert await slow_queue.worker_reclaim("b", 10) == []  # leased to a for 60 s
    await slow_queue.worker_hand_back("a", [d.message_id for d in deliveries])
    assert sorted(d.job_id for d in await slow_queue.worker_reclaim("b", 10)) == sorted(ids)


async def test_a_backlog_of_reclaimable_jobs_drains_at_full_speed(
    slow_queue: JobQueue, runner: StepRunner
) -> None:
    """40 entries handed back, 2 slots: before, 2 were reclaimed every 30 s (visibility_timeout/2)."""
    ids = [await slow_queue.submit("steps") for _ in range(40)]
    deliveries = await slow_queue.worker_read("gone", 40, 100)
    await slow_queue.worker_hand_back("gone", [d.message_id for d in deliveries])
    async with running(Worker(runner, slow_queue, concurrency=2, name="drainer")):
        jobs = await slow_queue.wait(ids, timeout=BOUND)
    assert {(j.status, j.attempts, j.worker) for j in jobs} == {("completed", 1, "drainer")}


async def test_a_corrupt_record_is_dead_lettered_alone(
    slow_queue: JobQueue, runner: StepRunner, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    """Issue 13, bug 4: the batch's START raised after starting the others; they burnt attempts."""
    ids = [await slow_queue.submit("steps") for _ in range(5)]
    poison = ids[2]
    await redis_client.set(keyspace.job(poison), "garbage")
    deliveries = await slow_queue.worker_read("a", 5, 100)
    started = await slow_queue.worker_start_many(deliveries, "a")
    assert [job is None for job in started] == [False, False, True, False, False]
    assert {job.attempts for job in started if job is not None} == {1}
    dead = await slow_queue.dead_letters()
    assert [(d["job"], d["attempts"]) for d in dead] == [(poison, "0")]
    assert dead[0]["error"].startswith("corrupt job record")
    pending: Any = await redis_client.xpending_range(keyspace.jobs_stream, keyspace.jobs_group, "-", "+", 10)
    assert sorted(p["message_id"].decode() for p in pending) == sorted(
        d.message_id for d in deliveries if d.job_id != poison)  # its entry is acknowledged, the rest held
    with pytest.raises(JobError, match="corrupt job record"):
        await slow_queue.status(poison)
    assert poison not in [j.id for j in await slow_queue.list()]
    # the others run normally, once each, from the same worker's hand-back
    await slow_queue.worker_hand_back("a", [d.message_id for d in deliveries if d.job_id != poison])
    async with running(Worker(runner, slow_queue, name="b")):
        jobs = await slow_queue.wait([i for i in ids if i != poison], timeout=BOUND)
    assert {(j.status, j.attempts) for j in jobs} == {("completed", 2)}  # started by a, then by b
    assert [d["job"] for d in await slow_queue.dead_letters()] == [poison]


class _NoOp:
    """A runner that writes nothing (Redis may be out of memory while it runs)."""

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        return RunResult(run_id=run_id, status="completed", answer=target)


class _ReadsWhenAllowed(JobQueue):
    """A queue whose worker reads only once ``allowed`` is set (so the read happens at maxmemory)."""

    allowed = asyncio.Event()

    async def worker_read(self, consumer: str, count: int, block_ms: int) -> list[Delivery]:
        await self.allowed.wait()
        return await super().worker_read(consumer, count, block_ms)


async def test_jobs_whose_start_failed_at_maxmemory_are_not_parked(tmp_path: Path, keyspace: KeySpace) -> None:
    """Issue 13, bug 3: with Redis at maxmemory the read worked, START failed, and the entries
    waited for the visibility timeout. Now they are handed back and run once memory is back."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    await server.start()
    client = connect(server.url)
    queue = _ReadsWhenAllowed(client, keyspace, SLOW_LEASES)
    queue.allowed = asyncio.Event()
    try:
        ids = [await queue.submit("steps") for _ in range(20)]
        async with running(Worker(_NoOp(), queue, concurrency=4, name="w")):
            await _start_fails_then_memory_returns(client, queue, keyspace)
            jobs = await queue.wait(ids, timeout=BOUND)
        assert {(j.status, j.attempts) for j in jobs} == {("completed", 1)}
    finally:
        await queue.aclose()
        await client.aclose()
        await server.stop()


async def _start_fails_then_memory_returns(client: aioredis.Redis, queue: _ReadsWhenAllowed,
                                           keyspace: KeySpace) -> None:
    """Put Redis at maxmemory, let the worker read (its STARTs fail), then give memory back."""
    await asyncio.sleep(0.2)  # started: its first heartbeat needed memory
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", "1")  # every write that needs memory fails now
    queue.allowed.set()
    pending: Any = {}
    for _ in range(200):  # bounded: until the worker has read (and failed to start) some jobs
        pending = await client.xpending(keyspace.jobs_stream, keyspace.jobs_group)
        if pending["pending"]:
            break
        await asyncio.sleep(0.05)
    assert pending["pending"], "the worker never read a job"
    await asyncio.sleep(1.0)  # a few failed STARTs
    assert {j.status for j in await queue.list(limit=50)} == {"queued"}
    await client.config_set("maxmemory", "0")


class _BlipAtTheEnd(StepRunner):
    """Runs the steps, then cuts the link to Redis for ``blip`` seconds just before returning."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace, proxy: Proxy, blip: float) -> None:
        super().__init__(client, keys)
        self.proxy = proxy
        self.blip = blip
        self.restored: asyncio.Task[None] | None = None

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        result = await super().run(target, inputs, run_id=run_id, sensitivity=sensitivity, events=events)
        self.proxy.drop()

        async def restore() -> None:
            await asyncio.sleep(self.blip)
            self.proxy.restore()

        self.restored = asyncio.create_task(restore())
        return result


async def test_a_finish_lost_to_a_redis_blip_is_retried(
    redis_client: aioredis.Redis, keyspace: KeySpace, redis_url: str
) -> None:
    """Issue 13, bug 5: a blip at a job's end lost its FINISH; the job was reclaimed and rerun."""
    proxy = await Proxy(int(redis_url.rsplit(":", 1)[1].split("/")[0])).start()
    client = connect(proxy.url, RedisSettings(connect_timeout=0.5, socket_timeout=2.0))
    queue = JobQueue(client, keyspace, SLOW_LEASES)
    runner = _BlipAtTheEnd(redis_client, keyspace, proxy, blip=3.0)  # its step counters go direct
    observer = JobQueue(redis_client, keyspace, SLOW_LEASES)
    try:
        async with running(Worker(runner, queue, name="blipped"), within=20):
            job_id = await observer.submit("steps", {"steps": 2})
            [job] = await observer.wait([job_id], timeout=BOUND)
        assert (job.status, job.attempts) == ("completed", 1)
        assert [await runner.calls(job_id, s) for s in ("s0", "s1")] == [1, 1]
        assert await runner.finished(job_id) == 1
        assert await redis_client.xlen(keyspace.jobs_stream) == 0
    finally:
        await observer.aclose()
        if runner.restored is not None:
            await runner.restored
        await queue.aclose()
        await client.aclose()
        await proxy.aclose()
