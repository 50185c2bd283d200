"""Shared fixtures: a real Redis under a per-test key prefix, and the model-request guard.

``redis_client`` and ``keyspace`` are a single Redis by default; a test module that asks for
``redis_topology`` to be parametrized (``pytest_generate_tests`` with ``TOPOLOGIES``) runs its
tests on the single Redis and on a local Redis Cluster too (``redis_cluster``: six
``redis-server`` processes, started once per session, only when a test needs them).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.redis.connection import connect
from tests.redis_cluster import LocalCluster

pytest_plugins = ["pytester"]  # the guard's own tests run a small inner test session

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_OPT_IN_MARKERS = ("allow_model_requests", "integration")
"""Markers that let a test (and the processes it starts) reach real models."""
_BLOCKED_FILE = pytest.StashKey[str]()
_SAVED_ENV = pytest.StashKey[dict[str, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    """Logging is configured once for the session, so no test's Orchestrator reconfigures it.

    Processes the tests start (CLI, workers, servers) inherit a blocked model guard that reports
    each blocked request to a session file, which the guard fixture below reads.
    """
    from orchestrator.logging import configure_logging
    from orchestrator.models import guard

    configure_logging("debug", "console")
    fd, path = tempfile.mkstemp(prefix="blocked-model-requests-", suffix=".log")
    os.close(fd)
    config.stash[_BLOCKED_FILE] = path
    config.stash[_SAVED_ENV] = {name: os.environ.get(name) for name in (guard.BLOCK_ENV, guard.RECORD_ENV)}
    os.environ[guard.BLOCK_ENV] = "1"
    os.environ[guard.RECORD_ENV] = path


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in config.stash.get(_SAVED_ENV, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if _BLOCKED_FILE in config.stash:
        Path(config.stash[_BLOCKED_FILE]).unlink(missing_ok=True)


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


@pytest.fixture(autouse=True)
def _block_real_model_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any real model call fails the test unless it is marked ``allow_model_requests`` (or ``integration``).

    A blocked call fails the test at teardown even if the code under test caught the error (the router
    turns model errors into failed attempts), and so does one blocked in a process the test started.
    """
    from orchestrator.models import guard

    allowed = any(request.node.get_closest_marker(name) is not None for name in _OPT_IN_MARKERS)
    if allowed:
        monkeypatch.delenv(guard.BLOCK_ENV, raising=False)  # processes this test starts may call models too
    record = request.config.stash.get(_BLOCKED_FILE, None)
    offset = Path(record).stat().st_size if record else 0
    with guard.model_requests(allowed=allowed) as blocked:
        yield
    from_processes = guard.blocked_in_file(record, offset) if record else []
    if not allowed and (blocked or from_processes):
        models = ", ".join(sorted({*blocked.models, *from_processes}))
        where = f" ({len(from_processes)} in processes the test started)" if from_processes else ""
        pytest.fail(f"the test reached real models ({models}): {len(blocked.models) + len(from_processes)} "
                    f"blocked request(s){where}; use ScriptedModel/FunctionModel, or mark the test "
                    "@pytest.mark.allow_model_requests", pytrace=False)
