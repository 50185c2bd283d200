"""Recovery that is fast and complete (issue 13 bugs 3-5): failed STARTs handed back at once, a
backlog reclaimed at full speed, a poison record dead-lettered alone, FINISH retried through a blip.

The visibility timeout here is long (60 s) and every wait is bounded well below it: a job parked
until its lease expires (the old behaviour) fails these tests instead of finishing late.

Every test runs on one Redis and on the local Redis Cluster. The maxmemory test puts a
``redis-server`` of its own (or, on the cluster, the masters holding the queue's shards, one
shard and three) out of memory; the blip test reaches Redis through TCP proxies that it resets
(on the cluster one per node, the client's view of the cluster mapped onto them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from structlog.testing import capture_logs

from orchestrator.errors import JobError
from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.queue import Delivery, JobQueue, QueueSettings, Worker
from orchestrator.redis.cluster import bounded_cluster
from orchestrator.redis.connection import connect
from orchestrator.settings import RedisSettings
from orchestrator.types import RunResult, Sensitivity
from tests.conftest import SHARDED, TOPOLOGIES, parametrize_topology
from tests.queue.app import StepRunner
from tests.queue.conftest import running
from tests.queue.proxy import Proxy
from tests.redis_cluster import LocalCluster
from tests.reliability.test_redis_restart import RedisServer

SLOW_LEASES = QueueSettings(visibility_timeout=60.0, max_attempts=3, worker_concurrency=4, result_ttl=600,
                            events_ttl=600, shutdown_grace=2.0, poll_interval=0.05)
BOUND = 30.0
"""Seconds a test waits for its jobs: half the visibility timeout."""

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    sharded = metafunc.function.__name__ == "test_jobs_whose_start_failed_at_maxmemory_are_not_parked"
    parametrize_topology(metafunc, (*TOPOLOGIES, SHARDED) if sharded else TOPOLOGIES)


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


@contextlib.asynccontextmanager
async def _redis_for_maxmemory(tmp_path: Path, redis_topology: str, redis_url: str,
                               keyspace: KeySpace) -> AsyncIterator[tuple[aioredis.Redis, list[aioredis.Redis]]]:
    """The queue's client and the servers to run out of memory: a ``redis-server`` of the test's
    own on one Redis; on the cluster, the masters holding the queue's shards (given their memory
    back afterwards, whatever happens)."""
    if not redis_topology.startswith("cluster"):
        (tmp_path / "redis").mkdir()
        server = RedisServer(tmp_path / "redis")
        await server.start()
        client = connect(server.url)
        try:
            yield client, [client]
        finally:
            await client.aclose()
            await server.stop()
        return
    client = connect(redis_url)
    await client.ping()
    ports = sorted({cast(Any, client).get_node_from_key(keyspace.shard_stream(n)).port for n in range(keyspace.shards)})
    masters = [aioredis.Redis(port=port) for port in ports]
    try:
        yield client, masters
    finally:
        for master in masters:
            await master.config_set("maxmemory", "0")
            await master.aclose()
        async for key in client.scan_iter(match=keyspace.pattern, count=500):
            await client.delete(key)
        await client.aclose()


async def test_jobs_whose_start_failed_at_maxmemory_are_not_parked(
    tmp_path: Path, keyspace: KeySpace, redis_topology: str, redis_url: str
) -> None:
    """Issue 13, bug 3: with Redis at maxmemory the read worked, START failed, and the entries
    waited for the visibility timeout. Now they are handed back and run once memory is back."""
    async with _redis_for_maxmemory(tmp_path, redis_topology, redis_url, keyspace) as (client, full):
        queue = _ReadsWhenAllowed(client, keyspace, SLOW_LEASES)
        queue.allowed = asyncio.Event()
        try:
            ids = [await queue.submit("steps") for _ in range(20)]
            async with running(Worker(_NoOp(), queue, concurrency=4, name="w")):
                failed = await _start_fails_then_memory_returns(full, queue, keyspace)
                back = time.monotonic()
                jobs = await queue.wait(ids, timeout=BOUND)
                drained = time.monotonic() - back
            assert {(j.status, j.attempts) for j in jobs} == {("completed", 1)}
            print(f"\nmaxmemory ({redis_topology}, {len(full)} server(s) full): {len(ids)} accepted, "
                  f"{sum(j.status == 'completed' for j in jobs)} completed once, {failed} read while full, "
                  f"lost 0, attempts {sum(j.attempts for j in jobs)}, drained {drained:.1f}s after memory "
                  f"returned (visibility timeout {SLOW_LEASES.visibility_timeout:g}s)")
        finally:
            await queue.aclose()


async def _start_fails_then_memory_returns(full: list[aioredis.Redis], queue: _ReadsWhenAllowed,
                                           keyspace: KeySpace) -> int:
    """Put ``full`` at maxmemory, let the worker read (its STARTs fail), then give memory back;
    how many entries were pending (read, not started) while memory was out."""
    await asyncio.sleep(0.2)  # started: its first heartbeat needed memory
    for server in full:
        await server.config_set("maxmemory-policy", "noeviction")
        await server.config_set("maxmemory", "1")  # every write that needs memory fails now
    queue.allowed.set()
    pending = 0
    for _ in range(200):  # bounded: until the worker has read (and failed to start) some jobs
        pending = await _pending(queue.client, keyspace)
        if pending:
            break
        await asyncio.sleep(0.05)
    assert pending, "the worker never read a job"
    await asyncio.sleep(1.0)  # a few failed STARTs
    assert {j.status for j in await queue.list(limit=50)} == {"queued"}
    for server in full:
        await server.config_set("maxmemory", "0")
    return pending


async def _pending(client: aioredis.Redis, keyspace: KeySpace) -> int:
    total = 0
    for shard in range(keyspace.shards):
        summary: Any = await client.xpending(keyspace.shard_stream(shard), keyspace.jobs_group)
        total += int(summary["pending"])
    return total


class _BlipAtTheEnd(StepRunner):
    """Runs the steps, then cuts the links to Redis for ``blip`` seconds just before returning."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace, proxies: list[Proxy], blip: float) -> None:
        super().__init__(client, keys)
        self.proxies = proxies
        self.blip = blip
        self.restored: asyncio.Task[None] | None = None

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        result = await super().run(target, inputs, run_id=run_id, sensitivity=sensitivity, events=events)
        for proxy in self.proxies:
            proxy.drop()

        async def restore() -> None:
            await asyncio.sleep(self.blip)
            for proxy in self.proxies:
                proxy.restore()

        self.restored = asyncio.create_task(restore())
        return result


BLIPPED = RedisSettings(connect_timeout=0.5, socket_timeout=2.0)


@contextlib.asynccontextmanager
async def _through_proxies(redis_topology: str, redis_url: str,
                           request: pytest.FixtureRequest) -> AsyncIterator[tuple[aioredis.Redis, list[Proxy]]]:
    """A client reaching Redis through TCP proxies the test can cut: one in front of the Redis,
    or on the cluster one per node, the client's view of the cluster mapped onto them
    (redis-py's ``address_remap``), so every connection it makes goes through one."""
    if not redis_topology.startswith("cluster"):
        proxies = [await Proxy(int(redis_url.rsplit(":", 1)[1].split("/")[0])).start()]
        client = connect(proxies[0].url, BLIPPED)
    else:
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        proxies = [await Proxy(port).start() for port in cluster.ports]
        by_port = {proxy.target_port: proxy.port for proxy in proxies}

        def through_proxy(address: tuple[str, int]) -> tuple[str, int]:
            host, port = address
            return ("127.0.0.1", by_port[port]) if port in by_port else (host, port)

        client = cast(aioredis.Redis, bounded_cluster(
            f"redis://127.0.0.1:{by_port[cluster.masters()[0]]}", max_connections=64, wait=BLIPPED.socket_timeout,
            socket_connect_timeout=BLIPPED.connect_timeout, socket_timeout=BLIPPED.socket_timeout,
            address_remap=through_proxy))
    try:
        yield client, proxies
    finally:
        await client.aclose()
        for proxy in proxies:
            await proxy.aclose()


async def test_a_finish_lost_to_a_redis_blip_is_retried(
    redis_client: aioredis.Redis, keyspace: KeySpace, redis_url: str, redis_topology: str,
    request: pytest.FixtureRequest
) -> None:
    """Issue 13, bug 5: a blip at a job's end lost its FINISH; the job was reclaimed and rerun."""
    async with _through_proxies(redis_topology, redis_url, request) as (client, proxies):
        queue = JobQueue(client, keyspace, SLOW_LEASES)
        runner = _BlipAtTheEnd(redis_client, keyspace, proxies, blip=3.0)  # its step counters go direct
        observer = JobQueue(redis_client, keyspace, SLOW_LEASES)
        try:
            with capture_logs() as logs:
                async with running(Worker(runner, queue, name="blipped"), within=20):
                    job_id = await observer.submit("steps", {"steps": 2})
                    [job] = await observer.wait([job_id], timeout=BOUND)
            assert (job.status, job.attempts) == ("completed", 1)
            calls = [await runner.calls(job_id, s) for s in ("s0", "s1")]
            assert calls == [1, 1]
            assert await runner.finished(job_id) == 1
            assert await _pending(redis_client, keyspace) == 0
            assert await redis_client.xlen(keyspace.shard_stream(0)) == 0
            retries = sum(entry["event"] == "job.finish_retry" for entry in logs)
            assert retries >= 1, "the blip missed the FINISH"
            print(f"\nFINISH blip ({redis_topology}, 3 s, every connection reset): 1 accepted, completed once "
                  f"(attempt 1), FINISH sent again {retries} time(s), step executions {calls}, lost 0, "
                  f"double-applied 0")
        finally:
            await observer.aclose()
            if runner.restored is not None:
                await runner.restored
            await queue.aclose()
