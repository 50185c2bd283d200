"""Connecting to Redis, and turning its failures into :class:`~orchestrator.errors.StoreError`.

Every client of the orchestrator (store, checkpointer, queue, workers, CLI, HTTP) comes from
:func:`connect` (or :func:`connect_settings`, which reads the deployment's settings), and
every Redis call runs inside :func:`redis_errors`. An unreachable server, or one that accepts
the connection and never answers, surfaces as one clear error naming the URL (never its
password) within the connect timeout (the whole handshake is bounded by it), instead of a
hang or a bare ``ConnectionError``.

A ``redis+cluster://host:port`` (or ``rediss+cluster://``) URL gives a Redis Cluster client
(:class:`redis.asyncio.cluster.RedisCluster`, seeded by that node): it has the same command API,
so callers hold it as an ``aioredis.Redis``; the few places where the two differ (connection
options, pipelines' queued commands, pub/sub) ask :func:`is_cluster`, :func:`connection_options`
and :func:`queued_commands`. On a cluster every script and transaction must touch one slot:
the key layout (:class:`~orchestrator.keys.KeySpace` with ``cluster=True``) sees to that.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.errors import ConfigError, StoreError
from orchestrator.keys import CLUSTER_SCHEMES, is_cluster_url
from orchestrator.redis.cluster import BoundedCluster, bounded_cluster
from orchestrator.settings.sections import RedisSettings

if TYPE_CHECKING:
    from orchestrator.settings import Settings


def is_cluster(client: Any) -> bool:
    """Is ``client`` a Redis Cluster client?"""
    return isinstance(client, RedisCluster)


def connect(url: str, options: RedisSettings | None = None) -> aioredis.Redis:
    """A client for ``url`` that fails fast when the server is down or mute.

    A command whose connection breaks (a pooled connection left stale by a server restart
    fails on first use) is sent once more, at once, on a fresh connection; a refused connection
    fails at once on that second try too, and timeouts are never retried. Its pool holds at
    most ``max_connections``; callers beyond that wait for a free connection (up to
    ``socket_timeout``) instead of failing.
    """
    opts = options or RedisSettings()
    if is_cluster_url(url):
        return _connect_cluster(url, opts)

    async def handshake(connection: Any) -> None:
        """redis-py's own handshake, bounded by the connect timeout (it would wait for the socket timeout)."""
        try:
            async with asyncio.timeout(opts.connect_timeout):
                await connection.on_connect()
        except TimeoutError:
            raise RedisTimeoutError(f"no answer to the handshake within {opts.connect_timeout:g}s") from None

    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=opts.max_connections,
        timeout=opts.socket_timeout,
        socket_connect_timeout=opts.connect_timeout,
        socket_timeout=opts.socket_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        redis_connect_func=handshake,
    )
    return aioredis.Redis.from_pool(pool)


def _connect_cluster(url: str, opts: RedisSettings) -> aioredis.Redis:
    """A cluster client seeded by the node of ``url``; MOVED/ASK redirections, a failover's
    refused connections and slot-map refreshes are redis-py's. At most ``max_connections``
    commands run at once (callers beyond wait up to ``socket_timeout``), and the client's own
    faults during a failover are connection errors (:mod:`orchestrator.redis.cluster`)."""
    cluster = bounded_cluster(url.replace("+cluster://", "://", 1), max_connections=opts.max_connections,
                              wait=opts.socket_timeout, socket_connect_timeout=opts.connect_timeout,
                              socket_timeout=opts.socket_timeout)
    # the same command API as aioredis.Redis; the differences are handled where they matter
    return cast(aioredis.Redis, cluster)


def connection_options(client: aioredis.Redis) -> dict[str, Any]:
    """The options a client's connections are made with (``decode_responses``, ``host`` ...)."""
    if is_cluster(client):
        return dict(cast(Any, client).get_connection_kwargs())
    return dict(client.connection_pool.connection_kwargs)


async def mget(client: aioredis.Redis, keys: list[str]) -> list[Any]:
    """GET many keys in one round trip per server: MGET, or on a cluster one MGET per slot
    (redis-py's ``mget_nonatomic``); the values in the order of ``keys``."""
    if not keys:
        return []
    if is_cluster(client):
        return list(await cast(Any, client).mget_nonatomic(keys))
    return list(await client.mget(keys))


def queued_commands(pipe: Any) -> list[tuple[Any, ...]]:
    """Take the commands queued on a pipeline (plain or cluster), leaving it empty."""
    if isinstance(pipe, ClusterPipeline):
        queue = cast(Any, pipe)._execution_strategy._command_queue  # redis-py keeps the queue there
        commands = [command.args for command in queue]
    else:
        queue = pipe.command_stack
        commands = [args for args, _options in queue]
    queue.clear()
    return commands


def connect_settings(settings: Settings, purpose: str = "this") -> aioredis.Redis:
    """A client for the deployment's Redis (``redis_url``, ``[redis]`` timeouts).

    Raises :class:`~orchestrator.errors.ConfigError` when no Redis is configured, saying
    that ``purpose`` (e.g. ``"the job queue"``) needs one.
    """
    if not settings.redis_url:
        raise ConfigError(f"{purpose} needs Redis; set REDIS_URL (e.g. redis://127.0.0.1:6379/0)",
                          key="redis_url")
    return connect(settings.redis_url, settings.redis)


def describe(client: aioredis.Redis) -> str:
    """``redis://host:port/db`` of a client (``redis+cluster://host:port`` of the node a cluster
    client was seeded by), without credentials."""
    if isinstance(client, BoundedCluster):  # stable: redis-py reorders its startup nodes
        return "redis+cluster://" + client.seed
    if is_cluster(client):
        seeds = cast(Any, client).nodes_manager.startup_nodes
        seed = next(iter(seeds.values())) if seeds else None
        return "redis+cluster://" + (f"{seed.host}:{seed.port}" if seed else "?")
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


@dataclass(frozen=True, slots=True)
class Server:
    """Which Redis a client talks to, as fencing tells them apart: one Redis by its address
    (:func:`describe`), a Redis Cluster by the ids of its nodes, since clients of one cluster
    may be seeded by different nodes (:func:`server`)."""

    name: str
    """:func:`describe` of the client (for messages)."""
    nodes: frozenset[str] = frozenset()
    """A cluster's node ids (40 random hex digits each; empty for one Redis)."""

    def same_as(self, other: Server) -> bool:
        """Is ``other`` this Redis? Two clusters are one if they have a node in common (a node
        added or replaced since one of them was read leaves the others in common); a cluster
        and one Redis never are."""
        if self.nodes or other.nodes:
            return bool(self.nodes & other.nodes)
        return self.name == other.name


_servers: weakref.WeakKeyDictionary[Any, Server] = weakref.WeakKeyDictionary()


async def server(client: aioredis.Redis) -> Server:
    """The :class:`Server` ``client`` talks to; a cluster's node ids are read (``CLUSTER NODES``)
    once per client. :class:`~orchestrator.errors.StoreError` if Redis cannot be reached."""
    if not is_cluster(client):
        return Server(describe(client))
    known = _servers.get(client)
    if known is None:
        with redis_errors(client):
            nodes: Any = await cast(Any, client).cluster_nodes()
        known = _servers[client] = Server(describe(client), frozenset(info["node_id"] for info in nodes.values()))
    return known


@contextmanager
def redis_errors(client: aioredis.Redis) -> Iterator[None]:
    """Re-raise Redis failures as :class:`StoreError` with the server and the reason."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StoreError(f"cannot reach Redis at {describe(client)}: {exc}; check REDIS_URL") from exc
    except RedisError as exc:
        raise StoreError(f"Redis at {describe(client)} failed: {exc}") from exc


def text(value: bytes | str) -> str:
    """A Redis reply as ``str`` (clients may or may not decode responses)."""
    return value.decode() if isinstance(value, bytes) else value


__all__ = [
    "CLUSTER_SCHEMES",
    "Server",
    "connect",
    "connect_settings",
    "connection_options",
    "describe",
    "is_cluster",
    "is_cluster_url",
    "mget",
    "queued_commands",
    "redis_errors",
    "server",
    "text",
]
