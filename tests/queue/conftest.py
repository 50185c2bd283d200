"""Queue fixtures: a JobQueue on the test's key prefix, in-process workers and worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings, Worker
from tests.queue.app import StepRunner

ROOT = Path(__file__).resolve().parents[2]
Spawn = Callable[..., Coroutine[Any, Any, asyncio.subprocess.Process]]

FAST = QueueSettings(visibility_timeout=1.0, max_attempts=3, worker_concurrency=4,
                     result_ttl=600, events_ttl=600, shutdown_grace=2.0, poll_interval=0.05)


@pytest.fixture
async def queue(redis_client: aioredis.Redis, keyspace: KeySpace) -> AsyncIterator[JobQueue]:
    queue = JobQueue(redis_client, keyspace, FAST)
    yield queue
    await queue.aclose()


@pytest.fixture
def runner(redis_client: aioredis.Redis, keyspace: KeySpace) -> StepRunner:
    return StepRunner(redis_client, keyspace)


WorkerFactory = Callable[..., contextlib.AbstractAsyncContextManager[Worker]]


@contextlib.asynccontextmanager
async def running(worker: Worker, within: float = 15) -> AsyncIterator[Worker]:
    """Run ``worker`` until the block ends, then stop it (it must stop within ``within`` s)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, within)


@pytest.fixture
def running_worker(queue: JobQueue, runner: StepRunner) -> WorkerFactory:
    """``async with running_worker(name=..., **kw) as worker:`` runs a worker until the block ends."""

    @contextlib.asynccontextmanager
    async def start(**kwargs: Any) -> AsyncIterator[Worker]:
        worker = Worker(kwargs.pop("runner", runner), kwargs.pop("queue", queue), **kwargs)
        async with running(worker):
            yield worker

    return start


@pytest.fixture
def cli_env(keyspace: KeySpace, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix,
        "ORCHESTRATOR_QUEUE__VISIBILITY_TIMEOUT": "2",
        "ORCHESTRATOR_QUEUE__MAX_ATTEMPTS": "3",
        "ORCHESTRATOR_QUEUE__SHARDS": str(keyspace.shards),
    }


async def run_cli(env: dict[str, str], *args: str, within: float = 60) -> tuple[int, str, str]:
    """``orchestrator <args>`` in a subprocess: exit code, stdout, stderr (fails after ``within`` s)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "orchestrator", *args, cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"orchestrator {' '.join(args)} still running after {within:g}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def spawn_worker(cli_env: dict[str, str]) -> AsyncIterator[Spawn]:
    """``await spawn_worker(name, *args, app=...)`` starts an ``orchestrator worker`` process.

    ``app`` defaults to :class:`~tests.queue.app.StepRunner`; every process is killed at the end.
    """
    procs: list[asyncio.subprocess.Process] = []

    async def spawn(name: str, *extra: str, app: str = "tests.queue.app:make_runner") -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orchestrator", "worker", "--app", app,
            "--name", name, *extra, cwd=ROOT, env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
