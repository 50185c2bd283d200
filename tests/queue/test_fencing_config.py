"""Fencing needs the run store and checkpointer on the queue's Redis: anything else is refused.

A stale attempt's writes are refused by a script that checks the job record and writes in one
step, which only the queue's Redis can run. A run store on another Redis (here: another
database of the test server, which is another Redis as far as fencing goes) would take a stale
attempt's writes unchecked, so a worker with one refuses to start, and a write an attempt makes
there anyway fails the job with the reason, instead of going unfenced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import ConfigError
from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from orchestrator.redis.connection import connect
from orchestrator.store.redis import RedisStore
from orchestrator.types import RunResult, Sensitivity
from tests.conftest import REDIS_URL
from tests.queue.conftest import FAST, running

OTHER_DB = REDIS_URL.rsplit("/", 1)[0] + "/15"


@pytest.fixture
async def elsewhere(keyspace: KeySpace) -> AsyncIterator[RedisStore]:
    """A run store on another Redis than the queue's (database 15 of the test server)."""
    client = connect(OTHER_DB)
    yield RedisStore(client, keyspace)
    keys = [key async for key in client.scan_iter(match=f"{keyspace.prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class _Runner:
    """A runner that writes its run record to ``store`` (from inside the attempt)."""

    def __init__(self, store: RedisStore, *, visible: bool) -> None:
        if visible:
            self.store = store
        self._own = store

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        result = RunResult(run_id=run_id, status="completed", answer=dict(inputs))
        await self._own.save_run(result)
        return result


async def test_a_worker_whose_runner_stores_runs_on_another_redis_refuses_to_start(
    redis_client: aioredis.Redis, keyspace: KeySpace, elsewhere: RedisStore
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        with pytest.raises(ConfigError, match=r"fenced\) only on the queue's Redis.*one redis_url"):
            await Worker(_Runner(elsewhere, visible=True), queue, name="w").run()
        assert await redis_client.exists(keyspace.worker("w")) == 0  # never announced itself
    finally:
        await queue.aclose()


async def test_a_queue_whose_store_is_on_another_redis_has_no_workers(
    redis_client: aioredis.Redis, keyspace: KeySpace, elsewhere: RedisStore
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST, store=elsewhere)
    try:
        with pytest.raises(ConfigError, match="the run records and events of the queue's store go to Redis at "
                                              r"redis://[^ ]+/15, but the job queue is at redis://[^ ]+/0"):
            await Worker(_Runner(elsewhere, visible=False), queue, name="w").run()
    finally:
        await queue.aclose()


async def test_an_attempts_write_to_another_redis_fails_the_job_unwritten(
    redis_client: aioredis.Redis, keyspace: KeySpace, elsewhere: RedisStore
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        job_id = await queue.submit("anything", {"n": 1})
        async with running(Worker(_Runner(elsewhere, visible=False), queue, name="w")):
            [job] = await queue.wait([job_id], timeout=30)
    finally:
        await queue.aclose()
    assert (job.status, job.attempts) == ("failed", 1)  # a ConfigError: not retried
    assert job.error is not None and "only on the queue's Redis" in job.error
    assert await elsewhere.get_run(job.run_id) is None  # the unfenced write never happened
