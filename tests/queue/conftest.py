"""Queue fixtures: a JobQueue on the test's key prefix, and in-process workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings
from orchestrator.worker import Worker
from tests.queue.app import StepRunner

FAST = QueueSettings(visibility_timeout=1.0, max_attempts=3, worker_concurrency=4,
                     result_ttl=600, events_ttl=600, shutdown_grace=2.0, poll_interval=0.05)


@pytest.fixture
def queue(redis_client: aioredis.Redis, keyspace: KeySpace) -> JobQueue:
    return JobQueue(redis_client, keyspace, FAST)


@pytest.fixture
def runner(redis_client: aioredis.Redis, keyspace: KeySpace) -> StepRunner:
    return StepRunner(redis_client, keyspace)


WorkerFactory = Callable[..., contextlib.AbstractAsyncContextManager[Worker]]


@pytest.fixture
def running_worker(queue: JobQueue, runner: StepRunner) -> WorkerFactory:
    """``async with running_worker(name=..., **kw) as worker:`` runs a worker until the block ends."""

    @contextlib.asynccontextmanager
    async def start(**kwargs: Any) -> AsyncIterator[Worker]:
        worker = Worker(kwargs.pop("runner", runner), kwargs.pop("queue", queue), **kwargs)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield worker
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    return start
