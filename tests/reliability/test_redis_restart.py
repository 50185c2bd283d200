"""Redis restarts (AOF on) under load: every accepted job ends, workers reconnect by themselves."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.errors import StoreError
from orchestrator.keys import KeySpace
from orchestrator.queue import Job, JobQueue, QueueSettings
from orchestrator.store.connection import connect
from tests.reliability.conftest import PoolFactory

JOBS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A ``redis-server`` of this test's own, with an append-only file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                break
            except OSError:
                assert self.proc.returncode is None, "redis-server exited at start"
                assert time.monotonic() < deadline, "redis-server did not start"
                await asyncio.sleep(0.05)
        client = connect(self.url)
        try:
            for _ in range(300):  # the server answers LOADING while it replays the AOF
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                await asyncio.sleep(0.05)
            raise AssertionError("redis-server never became ready")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        """SIGTERM: Redis fsyncs the append-only file and exits (SHUTDOWN NOSAVE would not)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 5)
        self.proc = None


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def _statuses(queue: JobQueue, ids: list[str]) -> list[Job] | None:
    try:
        return [await queue.status(i) for i in ids]
    except StoreError:
        return None  # Redis is down or just back; ask again


async def _wait(queue: JobQueue, ids: list[str], *, done: int, within: float) -> list[Job]:
    deadline = time.monotonic() + within
    while True:
        jobs = await _statuses(queue, ids)
        if jobs is not None and sum(j.finished for j in jobs) >= done:
            return jobs
        assert time.monotonic() < deadline, f"fewer than {done} jobs finished within {within}s: {jobs}"
        await asyncio.sleep(0.1)


async def test_jobs_survive_a_redis_restart_and_workers_reconnect(
    redis_server: RedisServer, worker_pool: PoolFactory, tmp_path: Path,
) -> None:
    keys = KeySpace(prefix="restart")
    queue = JobQueue(connect(redis_server.url), keys, QueueSettings(result_ttl=600, events_ttl=600),
                     owns_client=True)
    pool = worker_pool(redis_server.url, keys.prefix, concurrency=4, visibility_timeout=1.0, max_attempts=10)
    try:
        await pool.start("w0")
        await pool.start("w1")
        ids = [await queue.submit("counted", {"token": f"t{i}", "delay": 0.2}) for i in range(JOBS)]
        before = await _wait(queue, ids, done=3, within=60)
        assert sum(j.finished for j in before) < JOBS, "all jobs ended before the restart: load too small"

        await redis_server.stop()  # mid-run: in-flight steps, checkpoints and acks fail
        await asyncio.sleep(1.5)
        assert pool.alive("w0") and pool.alive("w1"), pool.output()
        await redis_server.start()

        jobs = await _wait(queue, ids, done=JOBS, within=120)
    finally:
        await queue.aclose()
    assert len(jobs) == JOBS  # every accepted job survived the restart (AOF)
    for job in jobs:
        assert job.status == "completed" or job.error, job
    completed = [j for j in jobs if j.status == "completed"]
    assert len(completed) >= JOBS // 2, [(j.status, j.error) for j in jobs]
    assert pool.starts == 2 and pool.alive("w0") and pool.alive("w1"), "workers had to be restarted"
    assert any(j.attempts > 1 for j in jobs), "no run was interrupted by the restart"
