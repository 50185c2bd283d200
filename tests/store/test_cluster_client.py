"""The Redis Cluster client honours ``redis.max_connections`` (commands, transactions and
subscriptions) and reports a failover's internal faults as connection errors (on the local
cluster: six redis-server processes)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import MaxConnectionsError, RedisClusterException

from orchestrator.errors import StoreError
from orchestrator.redis.connection import connect, describe, redis_errors
from orchestrator.settings.sections import RedisSettings
from tests.redis_cluster import LocalCluster

LIMIT = 2
CALLS = 12


@pytest.fixture
async def bounded(redis_cluster: LocalCluster) -> AsyncIterator[Any]:
    client = cast(Any, connect(redis_cluster.url, RedisSettings(max_connections=LIMIT)))
    yield client
    await client.aclose()


def _most_connections(client: Any) -> int:
    return max(len(node._connections) for node in client.get_nodes())


async def test_redis_py_alone_fails_past_max_connections(redis_cluster: LocalCluster) -> None:
    """Why the bound exists: a plain cluster client raises when a node's pool is full."""
    plain = RedisCluster.from_url(redis_cluster.url.replace("+cluster://", "://"), max_connections=LIMIT)
    try:
        key = "{" + uuid.uuid4().hex + "}:list"
        replies = await asyncio.gather(*(plain.blpop([key], timeout=0.1) for _ in range(CALLS)),
                                       return_exceptions=True)
        assert any(isinstance(r, MaxConnectionsError) for r in replies)
    finally:
        await plain.aclose()


async def test_commands_beyond_max_connections_wait_for_a_turn(bounded: Any) -> None:
    key = "{" + uuid.uuid4().hex + "}:list"  # one slot: every call goes to one node
    replies = await asyncio.gather(*(bounded.blpop([key], timeout=0.1) for _ in range(CALLS)))
    assert replies == [None] * CALLS
    assert 1 <= _most_connections(bounded) <= LIMIT


async def test_watched_transactions_hold_a_turn_until_reset(bounded: Any) -> None:
    key = "{" + uuid.uuid4().hex + "}:n"

    async def increment() -> None:
        async with bounded.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    value = int(await pipe.get(key) or 0)
                    pipe.multi()
                    pipe.set(key, value + 1)
                    await pipe.execute()
                    return
                except Exception as exc:  # WatchError: another increment won; try again
                    if type(exc).__name__ != "WatchError":
                        raise

    try:
        await asyncio.gather(*(increment() for _ in range(CALLS)))
        assert int(await bounded.get(key)) == CALLS
        assert _most_connections(bounded) <= LIMIT
        assert bounded._turns._value == LIMIT  # every turn given back
    finally:
        await bounded.delete(key)


async def test_a_fault_inside_the_client_during_a_failover_is_a_store_error(
    bounded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def node_gone(*args: Any, **kwargs: Any) -> Any:
        """What redis-py raises when the node it picked left its refreshed slot map mid-failover."""
        raise AttributeError("'NoneType' object has no attribute 'execute_command'")

    monkeypatch.setattr(RedisCluster, "_execute_command", node_gone)
    with pytest.raises(StoreError, match=r"topology changed \(a failover\?\): AttributeError"), redis_errors(bounded):
        await bounded.get("{x}:y")
    monkeypatch.undo()
    assert await bounded.get("{" + uuid.uuid4().hex + "}:none") is None  # and the client goes on working


async def test_a_cluster_client_keeps_its_name_when_redis_py_reorders_its_nodes(
    bounded: Any, redis_cluster: LocalCluster
) -> None:
    """Fencing compares servers by name: a name that changed after a topology refresh made an
    attempt's writes look as if they went to another Redis (seen on the lossy-link test)."""
    name = describe(bounded)
    await bounded.ping()
    nodes = bounded.nodes_manager.startup_nodes
    assert len(nodes) > 1  # initialized: redis-py knows every node now
    first = next(iter(nodes))
    nodes[first] = nodes.pop(first)  # the seed moved last, as redis-py does with a node that failed
    assert describe(bounded) == name == redis_cluster.url


async def test_a_subscription_holds_a_turn_until_it_is_closed(bounded: Any) -> None:
    """redis-py takes a subscription's connection from the node's pool: uncounted, commands to that
    node beside it overflowed the pool (``MaxConnectionsError`` at once) instead of waiting."""
    tag = "{" + uuid.uuid4().hex + "}"
    pubsub = bounded.pubsub()
    try:
        await pubsub.subscribe(f"{tag}:channel")  # the channel's node is the list's
        replies = await asyncio.gather(*(bounded.blpop([f"{tag}:list"], timeout=0.1) for _ in range(CALLS)))
        assert replies == [None] * CALLS
        assert _most_connections(bounded) <= LIMIT
        assert bounded._turns._value == LIMIT - 1  # the subscription's
        assert await bounded.publish(f"{tag}:channel", "hello") == 1
        message = None
        for _ in range(50):  # bounded: the subscribe confirmation, then the message
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
        assert message is not None and message["data"] == b"hello"
    finally:
        await pubsub.aclose()
    assert bounded._turns._value == LIMIT  # given back


async def test_a_cluster_no_node_of_which_answers_is_a_store_error() -> None:
    """redis-py raises ``RedisClusterException`` (no ``RedisError``) when no node answers its
    topology refresh: it escaped as such and killed a worker on a lossy link."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    client = connect(f"redis+cluster://127.0.0.1:{port}", RedisSettings(connect_timeout=0.5))
    try:
        with pytest.raises(StoreError, match=r"cannot reach Redis at redis\+cluster://.*cannot be connected"), \
                redis_errors(client):
            await client.get("{x}:y")
    finally:
        await client.aclose()


async def _command_table_fetches(cluster: LocalCluster) -> int:
    """``COMMAND`` calls served by every node so far."""
    total = 0
    for port in cluster.ports:
        node = aioredis.Redis(port=port)
        try:
            stats = await node.info("commandstats")
        finally:
            await node.aclose()
        total += int(stats.get("cmdstat_command", {}).get("calls", 0))
    return total


async def test_a_topology_refresh_does_not_fetch_the_command_table_again(
    bounded: Any, redis_cluster: LocalCluster
) -> None:
    """redis-py fetched ``COMMAND`` (~90 KB) on every refresh, i.e. after every connection error
    or timeout: on the lossy netns link that filled the link and cost leases."""
    before = await _command_table_fetches(redis_cluster)
    await bounded.ping()
    for _ in range(3):
        bounded._initialize = True  # what redis-py sets after a connection error or a timeout
        await bounded.ping()
        assert bounded._initialize is False  # refreshed
    assert await _command_table_fetches(redis_cluster) - before == 1


async def test_a_callers_mistake_on_a_cluster_stays_what_it_is(bounded: Any) -> None:
    """Only failures to reach the cluster become connection errors (retried as blips); a command
    redis-py cannot route is the caller's to fix."""
    tag = uuid.uuid4().hex
    async with bounded.pipeline(transaction=True) as pipe:
        pipe.set(f"{{{tag}a}}:x", 1)
        pipe.set(f"{{{tag}b}}:x", 1)
        with pytest.raises(RedisClusterException, match="slot"):
            await pipe.execute()
    assert bounded._turns._value == LIMIT
