"""The sharded queue: jobs spread over the shards, workers read every shard fairly, and a
master killed under load on a local Redis Cluster loses only what it had not replicated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import ConfigError, JobError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from orchestrator.redis.connection import connect
from tests.conftest import TOPOLOGIES, parametrize_topology
from tests.queue.app import StepRunner
from tests.queue.conftest import FAST, running
from tests.redis_cluster import LocalCluster

SHARDS = 3


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_topology(metafunc, TOPOLOGIES)


@pytest.fixture
async def sharded(redis_client: aioredis.Redis, keyspace: KeySpace) -> AsyncIterator[JobQueue]:
    """A queue over three shards (on one Redis, or the cluster), under the test's prefix."""
    queue = JobQueue(redis_client, KeySpace(keyspace.prefix, shards=SHARDS, cluster=keyspace.cluster), FAST)
    yield queue
    await queue.aclose()


def _key_on(keys: KeySpace, shard: int, n: int) -> str:
    """The ``n``-th idempotency key that lands on ``shard``."""
    found = [k for k in (f"k{i}" for i in range(10_000)) if keys.shard_for(k) == shard]
    return found[n]


async def test_jobs_go_to_the_shards_in_turn_and_a_worker_drains_them_all(
    sharded: JobQueue, redis_client: aioredis.Redis
) -> None:
    ids = [await sharded.submit("steps", {"answer": i}) for i in range(9)]
    keys = sharded.keys
    assert [keys.shard_of(job_id) for job_id in ids] == [0, 1, 2] * 3
    assert [await redis_client.xlen(keys.shard_stream(s)) for s in range(SHARDS)] == [3, 3, 3]
    runner = StepRunner(redis_client, keys)
    async with running(Worker(runner, sharded, name="drain", concurrency=2)):
        results = [await sharded.result(job_id, wait=True, timeout=30) for job_id in ids]
    assert [r.answer for r in results] == list(range(9))
    assert [await redis_client.xlen(keys.shard_stream(s)) for s in range(SHARDS)] == [0, 0, 0]
    assert [job.id for job in await sharded.list(limit=9)] == ids[::-1]  # newest first, over the shards


async def test_a_read_takes_every_busy_shards_share_before_filling_up_from_one(sharded: JobQueue) -> None:
    keys = sharded.keys
    crowded = [await sharded.submit("steps", {"n": i}, idempotency_key=_key_on(keys, 0, i)) for i in range(20)]
    sparse = [await sharded.submit("steps", {"n": i}, idempotency_key=_key_on(keys, 1, i)) for i in range(2)]
    assert {keys.shard_of(j) for j in crowded} == {0} and {keys.shard_of(j) for j in sparse} == {1}
    first = await sharded.worker_read("c", 4, 100)
    assert len(first) == 4 and {d.job_id for d in first} >= set(sparse)  # the sparse shard is not starved
    assert all(d.shard == keys.shard_of(d.job_id) for d in first)
    rest = await sharded.worker_read("c", 100, 100)
    assert len(first) + len(rest) == 22
    lost = await sharded.worker_touch("c", [d.message_id for d in first if d.shard == 1], shard=1)
    assert lost == set()


async def test_dead_letters_of_every_shard_are_listed_newest_first(sharded: JobQueue) -> None:
    ids = [await sharded.submit("boom") for _ in range(SHARDS)]
    runner = StepRunner(sharded.client, sharded.keys)
    async with running(Worker(runner, sharded, name="poison")):
        for job_id in ids:
            with pytest.raises(JobError, match="boom"):
                await sharded.result(job_id, wait=True, timeout=30)
    assert sorted(d["job"] for d in await sharded.dead_letters()) == sorted(ids)


async def test_a_queue_on_a_cluster_refuses_the_plain_key_layout(
    redis_client: aioredis.Redis, keyspace: KeySpace, redis_topology: str
) -> None:
    if redis_topology != "cluster":
        pytest.skip("the plain layout is the single Redis's")
    with pytest.raises(ConfigError, match="sharded key layout"):
        JobQueue(redis_client, KeySpace(keyspace.prefix))


# -- failover: a master killed under load ---------------------------------------------


@pytest.fixture
def own_cluster(tmp_path: Path, redis_topology: str) -> Iterator[LocalCluster]:
    """A cluster of this test's own (its masters get killed); skipped on the single Redis."""
    if redis_topology != "cluster":
        pytest.skip("failover needs a Redis Cluster")
    cluster = LocalCluster.start(tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_a_master_killed_under_load_loses_only_its_replication_window(own_cluster: LocalCluster) -> None:
    client = connect(own_cluster.url)
    keys = KeySpace("failover", shards=6, cluster=True)
    queue = JobQueue(client, keys, FAST)
    runner = StepRunner(client, keys)
    accepted: dict[str, float] = {}
    refused = 0
    killed_at = 0.0
    try:
        async with running(Worker(runner, queue, name="survivor", concurrency=4), within=60):
            deadline = time.monotonic() + 60
            for n in range(400):  # bounded: 400 submissions, 60 s, at most ~100 a second
                await asyncio.sleep(0.01)
                if n == 200:
                    own_cluster.kill_master()
                    killed_at = time.monotonic()
                try:
                    job_id = await queue.submit("steps", {"answer": n})
                    accepted[job_id] = time.monotonic()
                except StoreError:
                    refused += 1
                    await asyncio.sleep(0.05)
                assert time.monotonic() < deadline, "the submissions took over 60 s"
            await asyncio.to_thread(own_cluster.wait_healthy)
            finished, lost = await _outcomes(queue, list(accepted), within=60)
    finally:
        await queue.aclose()
        await client.aclose()
    window = [j for j, at in accepted.items() if killed_at - 1.0 <= at <= killed_at + 0.1]
    print(f"failover: {len(accepted)} accepted, {refused} refused, {len(finished)} completed, "
          f"{len(lost)} lost ({len(window)} accepted within 1 s before the kill)")
    assert set(lost) <= set(window), "a job accepted outside the replication window was lost"
    assert len(finished) + len(lost) == len(accepted)


async def _outcomes(queue: JobQueue, ids: list[str], within: float) -> tuple[list[str], list[str]]:
    """The accepted jobs that completed, and those whose record is gone (lost in the failover)."""
    finished: list[str] = []
    lost: list[str] = []
    deadline = time.monotonic() + within
    for job_id in ids:
        while True:
            try:
                job = await queue.status(job_id)
            except JobError:
                lost.append(job_id)
                break
            except StoreError:
                job = None
            if job is not None and job.status == "completed":
                finished.append(job_id)
                break
            assert time.monotonic() < deadline, f"job {job_id} not completed {within:g}s after the failover"
            await asyncio.sleep(0.1)
    return finished, lost
