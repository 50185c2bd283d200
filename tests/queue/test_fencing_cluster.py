"""Fencing on Redis Cluster tells clusters apart by their nodes, not by the node a client was
seeded with: a queue and a run store seeded by different nodes of one cluster are one server
(accepted, and fenced: the check and the write run on the master holding the job's slot), while
another cluster, or a single Redis, is not (refused, as in :mod:`tests.queue.test_fencing_config`).

On the session's local cluster (six nodes); the other cluster is three masters of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import ConfigError, LeaseLost
from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from orchestrator.redis import fencing
from orchestrator.redis.connection import connect, describe, server
from orchestrator.store.redis import RedisStore
from orchestrator.types import RunResult, Sensitivity
from tests.conftest import REDIS_URL
from tests.queue.conftest import FAST, running
from tests.redis_cluster import LocalCluster


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "redis_topology" in metafunc.fixturenames:
        metafunc.parametrize("redis_topology", ["cluster"], indirect=True)


@pytest.fixture(scope="module")
def other_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster.start(tmp_path_factory.mktemp("other-cluster"), replicas=0)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def seeded_elsewhere(
    redis_cluster: LocalCluster, redis_client: aioredis.Redis, redis_url: str
) -> AsyncIterator[aioredis.Redis]:
    """A client of the test's cluster seeded by another node than ``redis_client``'s."""
    other = next(p for p in redis_cluster.ports if f":{p}" not in redis_url)
    client = connect(f"redis+cluster://127.0.0.1:{other}")
    assert describe(client) != describe(redis_client)  # as names go, two servers
    yield client
    await client.aclose()


class _Runner:
    """Writes its run record to ``store`` from inside the attempt (fenced), then returns it."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store  # the worker checks it when it starts

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        result = RunResult(run_id=run_id, status="completed", answer=dict(inputs))
        await self.store.save_run(result)
        return result


async def test_clients_seeded_by_different_nodes_of_one_cluster_are_one_server(
    redis_client: aioredis.Redis, seeded_elsewhere: aioredis.Redis, keyspace: KeySpace
) -> None:
    assert (await server(redis_client)).same_as(await server(seeded_elsewhere))
    store = RedisStore(seeded_elsewhere, keyspace)
    queue = JobQueue(redis_client, keyspace, FAST, store=store)
    try:
        ids = [await queue.submit("anything", {"n": n}) for n in range(3)]
        async with running(Worker(_Runner(store), queue, name="w")):
            jobs = await queue.wait(ids, timeout=30)
        assert {(j.status, j.attempts) for j in jobs} == {("completed", 1)}
        assert [(await queue.result(i)).answer for i in ids] == [{"n": n} for n in range(3)]
        assert queue._run_store is store  # recognised as this Redis: the run record went with FINISH
    finally:
        await queue.aclose()


async def test_a_stale_attempts_write_through_another_node_is_refused(
    redis_client: aioredis.Redis, seeded_elsewhere: aioredis.Redis, keyspace: KeySpace
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST)
    store = RedisStore(seeded_elsewhere, keyspace)
    try:
        job_id = await queue.submit("anything", {})
        [delivery] = await queue.worker_read("a", 1, 100)
        job = await queue.worker_start(delivery, "a")
        assert job is not None
        fence = fencing.Fence(job_id, keyspace.job(job_id), job.attempts, await server(redis_client))
        stale = fencing.Fence(job_id, keyspace.job(job_id), job.attempts + 1, fence.server)
        with pytest.raises(LeaseLost):
            await fencing.run_fenced(stale, store.save_run(RunResult(run_id=job_id, status="completed")))
        assert await store.get_run(job_id) is None
        await fencing.run_fenced(fence, store.save_run(RunResult(run_id=job_id, status="completed")))
        saved = await queue.store.get_run(job_id)
        assert saved is not None and saved.status == "completed"
    finally:
        await queue.aclose()


@pytest.fixture
async def other_store(other_cluster: LocalCluster, keyspace: KeySpace) -> AsyncIterator[RedisStore]:
    client = connect(other_cluster.url)
    yield RedisStore(client, keyspace)
    await client.aclose()


async def test_a_store_on_another_cluster_is_refused(
    redis_client: aioredis.Redis, keyspace: KeySpace, other_store: RedisStore
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        with pytest.raises(ConfigError, match=r"go to another Redis Cluster \(redis\+cluster://[^ ]+: no node in "
                                              r"common with the queue's\), but the job queue is at redis\+cluster://"):
            await Worker(_Runner(other_store), queue, name="w").run()
        job_id = await queue.submit("anything", {})  # an attempt writing there anyway fails, unwritten
        [delivery] = await queue.worker_read("a", 1, 100)
        job = await queue.worker_start(delivery, "a")
        assert job is not None
        fence = fencing.Fence(job_id, keyspace.job(job_id), job.attempts, await server(redis_client))
        with pytest.raises(ConfigError, match="only on the queue's Redis"):
            await fencing.run_fenced(fence, other_store.save_run(RunResult(run_id=job_id, status="completed")))
        assert await other_store.get_run(job_id) is None
    finally:
        await queue.aclose()


async def test_a_store_on_a_single_redis_is_not_the_cluster(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    single = aioredis.Redis.from_url(REDIS_URL)
    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        with pytest.raises(ConfigError, match=r"go to Redis at redis://[^ ]+, but the job queue is at redis\+cluster://"):
            await Worker(_Runner(RedisStore(single, keyspace)), queue, name="w").run()
    finally:
        await queue.aclose()
        await single.aclose()
