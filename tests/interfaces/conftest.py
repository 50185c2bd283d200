"""Fixtures: the test deployment's app over ASGI, and a real uvicorn server on a free port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI

from orchestrator.engine.app import Orchestrator
from orchestrator.interfaces.http import create_app
from orchestrator.keys import KeySpace
from tests.conftest import REDIS_URL
from tests.interfaces.app import build

KEY = "test-key-0123456789"

AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the app's start-up and shut-down (ASGITransport does not)."""
    async with app.router.lifespan_context(app):
        yield


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """A real uvicorn server for ``app`` on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """``await make_client(**settings)``: an ASGI client on a fresh test app (lifespan running)."""
    stack: list[Any] = []

    async def make(*, orchestrator: Orchestrator | None = None, **overrides: Any) -> httpx.AsyncClient:
        orch = orchestrator or build(**{"redis_url": None, **overrides})
        app = create_app(orch)
        span = lifespan(app)
        await span.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        stack.append((client, span, orch))
        return client

    yield make
    for client, span, orch in reversed(stack):
        await client.aclose()
        await span.__aexit__(None, None, None)
        await orch.aclose()


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> httpx.AsyncClient:
    result: httpx.AsyncClient = await make_client()
    return result


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """A real server for the test deployment (memory backend, API key ``KEY``)."""
    orch = build(redis_url=None, http={"api_keys": [KEY]})
    async with serving(create_app(orch)) as url:
        yield url
    await orch.aclose()


@pytest.fixture
async def queued_server(redis_client: aioredis.Redis, keyspace: KeySpace) -> AsyncIterator[str]:
    """A real server on the Redis queue (under the test's key prefix) with one in-process worker."""
    orch = build(redis_url=REDIS_URL, key_prefix=keyspace.prefix, queue={"visibility_timeout": 5})
    async with serving(create_app(orch, workers=1)) as url:
        yield url
    await orch.aclose()


async def wait_finished(client: httpx.AsyncClient, job_id: str,
                        headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job has finished (at most 10 s)."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        body: dict[str, Any] = (await client.get(f"/v1/jobs/{job_id}", headers=headers)).json()
        if body["status"] in ("completed", "failed", "cancelled", "dead"):
            return body
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still {body['status']}"
        await asyncio.sleep(0.02)
