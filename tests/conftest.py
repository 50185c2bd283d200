"""Shared fixtures: a real Redis under a per-test key prefix, and the model-request guard."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace

pytest_plugins = ["pytester", "orchestrator.models.pytest_plugin"]  # pytester: the guard's tests run an inner session

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_OPT_IN_MARKERS = ("allow_model_requests", "integration")
"""Markers that let a test (and the processes it starts) reach real models."""


def pytest_configure(config: pytest.Config) -> None:
    """Logging is configured once for the session, so no test's Orchestrator reconfigures it.

    The model-request guard is the shipped plugin (:mod:`orchestrator.models.pytest_plugin`):
    processes the tests start (CLI, workers, servers) inherit its block.
    """
    from orchestrator.logging import configure_logging

    configure_logging("debug", "console")


@pytest.fixture
def model_requests_allowed(request: pytest.FixtureRequest) -> bool:
    """Tests marked ``allow_model_requests`` or ``integration`` (and the processes they start) reach real models."""
    return any(request.node.get_closest_marker(name) is not None for name in _OPT_IN_MARKERS)


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


