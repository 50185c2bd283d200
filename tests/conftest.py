"""Shared fixtures: a real Redis under a per-test key prefix, and the model-request guard.

``redis_client`` and ``keyspace`` are a single Redis by default; a test module that asks for
``redis_topology`` to be parametrized (``pytest_generate_tests`` with ``TOPOLOGIES``) runs its
tests on the single Redis and on a local Redis Cluster too (``redis_cluster``: six
``redis-server`` processes, started once per session, only when a test needs them).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
import structlog

from orchestrator.keys import KeySpace
from orchestrator.redis.connection import connect
from tests.redis_cluster import LocalCluster

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


@pytest.fixture(autouse=True)
def session_logging() -> Iterator[None]:
    """Every test ends with the session's logging set-up: a CLI command called in-process
    configures logging for its process (level, output), which would otherwise hide later
    tests' lines from ``structlog.testing.capture_logs``."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def model_requests_allowed(request: pytest.FixtureRequest) -> bool:
    """Tests marked ``allow_model_requests`` or ``integration`` (and the processes they start) reach real models."""
    return any(request.node.get_closest_marker(name) is not None for name in _OPT_IN_MARKERS)


TOPOLOGIES = ("single", "cluster")
"""The values of ``redis_topology``: one Redis, or the local Redis Cluster (one queue shard)."""
SHARDED = "cluster-sharded"
"""One more ``redis_topology``: the local Redis Cluster with :data:`CLUSTER_SHARDS` queue shards."""
CLUSTER_SHARDS = 3


def parametrize_topology(metafunc: pytest.Metafunc, topologies: tuple[str, ...] = TOPOLOGIES) -> None:
    """Run ``metafunc``'s test on each of ``topologies`` (for ``pytest_generate_tests``)."""
    if "redis_topology" in metafunc.fixturenames:
        metafunc.parametrize("redis_topology", topologies, indirect=True)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local Redis Cluster (3 masters, 3 replicas on loopback), stopped at the session's end."""
    cluster = LocalCluster.start(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_topology(request: pytest.FixtureRequest) -> str:
    """``single`` unless the test is parametrized over :data:`TOPOLOGIES`."""
    return str(getattr(request, "param", "single"))


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_topology: str) -> str:
    if redis_topology.startswith("cluster"):
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return REDIS_URL


@pytest.fixture
def keyspace(redis_topology: str) -> KeySpace:
    """A key prefix of this test's own (the sharded layout on a cluster)."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    if redis_topology.startswith("cluster"):
        return KeySpace(prefix, shards=CLUSTER_SHARDS if redis_topology == SHARDED else 1, cluster=True)
    return KeySpace(prefix)


@pytest.fixture
async def redis_client(keyspace: KeySpace, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A real connection; every key under the test's prefix is deleted afterwards."""
    client: aioredis.Redis = aioredis.Redis.from_url(REDIS_URL) if redis_url == REDIS_URL else connect(redis_url)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is required at {REDIS_URL}: {exc}")
    yield client
    async for key in client.scan_iter(match=keyspace.pattern, count=500):
        await client.delete(key)
    await client.aclose()


