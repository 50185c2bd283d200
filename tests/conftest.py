"""Shared fixtures: a real Redis under a per-test key prefix, and the model-request guard."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def pytest_configure(config: pytest.Config) -> None:
    """Logging is configured once for the session, so no test's Orchestrator reconfigures it."""
    from orchestrator.logging import configure_logging

    configure_logging("debug", "console")


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def keyspace() -> KeySpace:
    """A key prefix of this test's own."""
    return KeySpace(prefix=f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def redis_client(keyspace: KeySpace) -> AsyncIterator[aioredis.Redis]:
    """A real connection; every key under the test's prefix is deleted afterwards."""
    client: aioredis.Redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is required at {REDIS_URL}: {exc}")
    yield client
    async for key in client.scan_iter(match=keyspace.pattern, count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture(autouse=True)
def _block_real_model_requests(request: pytest.FixtureRequest) -> Iterator[None]:
    """Any real model call fails the test unless it is marked ``allow_model_requests``."""
    from orchestrator.models import guard

    allowed = request.node.get_closest_marker("allow_model_requests") is not None
    with guard.model_requests(allowed=allowed):
        yield
