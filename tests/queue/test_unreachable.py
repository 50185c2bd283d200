"""A Redis that refuses connections, or accepts them and never answers: a clear error, never a hang.

Every client (JobQueue, the Orchestrator's Python API, the CLI, a worker process) comes from one
connection factory whose connect timeout bounds the whole handshake. Sockets here get a 120 s
reply timeout, so an operation that ends within ``HANG`` seconds was stopped by the connect
timeout (2 s by default), not by the reply timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import StoreError
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from orchestrator.settings import Settings
from orchestrator.workflow import Workflow
from tests.engine.agents import make_registry
from tests.queue.app import StepRunner
from tests.queue.conftest import run_cli

HANG = 30.0
"""Anything still waiting after this long is hanging (the connect timeout is 2 s)."""
SOCKET_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["refused", "mute"])
async def dead_redis(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of a Redis that refuses connections, or of a server that accepts and never answers."""
    if request.param == "refused":
        yield f"redis://127.0.0.1:{_free_port()}/0"
        return
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(4096):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


def _settings(url: str) -> Settings:
    return Settings(redis_url=url, key_prefix="unreachable", redis={"socket_timeout": SOCKET_TIMEOUT})


def _error(url: str) -> str:
    return f"cannot reach Redis at {url}: "


async def test_queue_submit_and_worker_start_fail_fast(dead_redis: str) -> None:
    queue = JobQueue.from_settings(_settings(dead_redis))
    try:
        with pytest.raises(StoreError, match=_error(dead_redis)):
            await asyncio.wait_for(queue.submit("steps"), HANG)
        with pytest.raises(StoreError, match=_error(dead_redis)):
            await asyncio.wait_for(queue.status("some-job"), HANG)
        worker = Worker(StepRunner(queue.client, queue.keys), queue)
        with pytest.raises(StoreError, match=_error(dead_redis)):  # at start: a wrong URL is not retried forever
            await asyncio.wait_for(worker.run(asyncio.Event()), HANG)
    finally:
        await queue.aclose()


async def test_orchestrator_run_and_submit_fail_fast(dead_redis: str) -> None:
    registry, _ = make_registry()
    registry.add_workflow(_one_step_workflow())
    async with Orchestrator(_settings(dead_redis), registry=registry, models={}) as orch:
        with pytest.raises(StoreError, match=_error(dead_redis)):
            await asyncio.wait_for(orch.submit("wait"), HANG)
        with pytest.raises(StoreError, match=_error(dead_redis)):
            await asyncio.wait_for(orch.run("wait"), HANG)


def _one_step_workflow() -> Workflow:
    wf = Workflow("wait", "One sleeping step.")
    wf.output(done=wf.step("s", "sleep").value)
    return wf


async def test_cli_submit_jobs_and_worker_exit_with_one_line(dead_redis: str, keyspace: KeySpace) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")},
           "REDIS_URL": dead_redis, "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix,
           "ORCHESTRATOR_REDIS__SOCKET_TIMEOUT": str(SOCKET_TIMEOUT)}
    commands = [("submit", "steps"), ("jobs", "list"), ("jobs", "status", "some-job"),
                ("worker", "--app", "tests.queue.app:make_runner")]
    outcomes = await asyncio.gather(*(run_cli(env, *command, within=HANG) for command in commands))
    for command, (code, out, err) in zip(commands, outcomes, strict=True):
        assert code == 1 and out == "", (command, code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {_error(dead_redis)}"), (command, err)
        assert lines[0].endswith("check REDIS_URL"), (command, err)
