"""The Redis Cluster client: redis-py's, with a bounded number of connections and clear errors.

redis-py's cluster nodes raise ``MaxConnectionsError`` at once when their pool is full, where
a single-Redis client (a blocking pool) makes the caller wait; and during a failover its
cluster client can fail with an ``AttributeError`` or ``KeyError`` (a node or slot that its
refreshing topology no longer holds). :class:`BoundedCluster` makes both behave like the
single-Redis client:

- at most ``max_connections`` connections are in use at once per client, so no node ever
  holds more than that: each command and pipeline (a watched transaction from its WATCH to its
  reset) takes a turn while it runs, and each pub/sub subscription holds one from its first
  connection until it is closed (redis-py takes its connection from the node's own pool, as a
  single Redis takes it from the client's); callers beyond wait for a turn, up to ``wait``
  seconds, then fail with a ``ConnectionError`` (a :class:`~orchestrator.errors.StoreError`
  through ``redis_errors``);
- an internal error of the client (``AttributeError``, ``KeyError``, ``IndexError``,
  ``TypeError``) raised while the cluster changes is a ``ConnectionError`` saying so, which
  callers treat as the blip it is (the worker retries, a CLI says what failed); so is the
  client's ``RedisClusterException`` when no node answers its topology refresh ("Redis Cluster
  cannot be connected", which is no ``RedisError``: it killed a worker on a lossy link) or a
  slot is not covered (mid-failover); any other ``RedisClusterException`` is a caller's
  mistake (a command with no key, a cross-slot transaction) and stays as it is;
- the command table (``COMMAND``, some 90 KB from Redis 7) is fetched once per client, not
  again on every topology refresh as redis-py does after any connection error or timeout: on a
  slow link each refresh filled the link for seconds, so the next calls timed out too and leases
  expired (the lossy netns link: 1 MB to a worker that ran two jobs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from redis._parsers import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, ClusterPubSub, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

CLIENT_FAULTS: tuple[type[Exception], ...] = (AttributeError, KeyError, IndexError, TypeError)
"""What redis-py's cluster client raises from inside itself when its topology changes under it."""
UNREACHABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
"""The causes that make redis-py's ``RedisClusterException`` a failure to reach the cluster."""


class BoundedCluster(RedisCluster):
    """A :class:`RedisCluster` using at most ``max_connections`` connections at once: commands,
    pipelines and pub/sub subscriptions (see the module)."""

    def __init__(self, *, max_connections: int, wait: float | None, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self.seed = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
        """The node this client was seeded by, as ``host:port``: names the cluster for good (redis-py
        reorders its startup nodes as the topology changes)."""
        self.commands_parser = CommandsOnce()
        self._limit = max_connections
        self._turns = asyncio.Semaphore(max_connections)
        self._wait = wait

    async def take_turn(self) -> None:
        """Wait for one of the ``max_connections`` turns (``ConnectionError`` after ``wait`` s)."""
        try:
            async with asyncio.timeout(self._wait):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError(
                f"no free connection within {self._wait:g}s: all {self._limit} of redis.max_connections "
                "are in use; raise redis.max_connections or lower the concurrency") from None

    def give_turn(self) -> None:
        self._turns.release()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await self.take_turn()
        try:
            yield
        finally:
            self.give_turn()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await guarded(super().execute_command(*args, **kwargs), str(args[0]) if args else "command")

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py refuses it, with its own message
        return BoundedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py's own

    def pubsub(self, node: ClusterNode | None = None, host: str | None = None, port: int | None = None,
               **kwargs: Any) -> ClusterPubSub:
        return BoundedPubSub(self, node=node, host=host, port=port, **kwargs)


class CommandsOnce(AsyncCommandsParser):
    """redis-py's command table (which keys each command takes), fetched from the cluster once:
    the commands do not change when the topology does (see the module)."""

    __slots__ = ()

    async def initialize(self, node: ClusterNode | None = None) -> None:
        if node is not None:
            self.node = node
        if not self.commands:
            await super().initialize(node)


class BoundedPipeline(ClusterPipeline):
    """A cluster pipeline holding one turn of its :class:`BoundedCluster` from its first WATCH or
    its execution until its reset (which ``execute`` and leaving ``async with`` do)."""

    __slots__ = ("_held",)

    def __init__(self, client: BoundedCluster, transaction: bool | None = None) -> None:
        super().__init__(client, transaction)
        self._held = False

    async def _hold(self) -> None:
        if not self._held:
            client = self.cluster_client
            assert isinstance(client, BoundedCluster)
            await client.take_turn()
            self._held = True

    async def watch(self, *names: Any) -> None:  # type: ignore[override]  # redis-py's is async too
        await self._hold()
        await guarded(cast(Any, super()).watch(*names), "WATCH")

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        await self._hold()
        return await guarded(super().execute(raise_on_error, allow_redirections), "pipeline")

    async def reset(self) -> None:  # type: ignore[override]  # redis-py's is async too
        try:
            await cast(Any, super()).reset()
        finally:
            if self._held:
                self._held = False
                client = self.cluster_client
                assert isinstance(client, BoundedCluster)
                client.give_turn()


class BoundedPubSub(ClusterPubSub):
    """A cluster pub/sub holding one turn of its :class:`BoundedCluster` from its first connection
    until :meth:`aclose` (its connection is one of a node's pool)."""

    def __init__(self, client: BoundedCluster, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._bound = client
        self._held = False

    async def _hold(self) -> None:
        if not self._held:
            await self._bound.take_turn()
            self._held = True

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self._hold()
        await guarded(self._bound.initialize(), "pub/sub")  # redis-py's pub/sub needs the slot map, never loads it
        return await guarded(super().execute_command(*args, **kwargs), str(args[0]) if args else "pub/sub")

    async def connect(self) -> None:
        await self._hold()
        await super().connect()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self._held:
                self._held = False
                self._bound.give_turn()


async def guarded(call: Awaitable[T], what: str) -> T:
    """Await ``call``, turning the cluster client's internal faults into a ``ConnectionError``."""
    try:
        return await call
    except CLIENT_FAULTS as exc:
        raise RedisConnectionError(
            f"the cluster client failed on {what} while the cluster's topology changed (a failover?): "
            f"{type(exc).__name__}: {exc}; try again once the failover is over") from exc
    except RedisClusterException as exc:
        if isinstance(exc, SlotNotCoveredError) or isinstance(exc.__cause__, UNREACHABLE):
            raise RedisConnectionError(f"the cluster failed on {what}: {exc}") from exc
        raise  # a caller's mistake (a command with no key, a cross-slot transaction ...)


def bounded_cluster(url: str, *, max_connections: int, wait: float | None, **kwargs: Any) -> BoundedCluster:
    """A :class:`BoundedCluster` seeded by the node of ``url`` (a plain ``redis://`` URL)."""
    return cast(BoundedCluster, BoundedCluster.from_url(url, max_connections=max_connections, wait=wait, **kwargs))


__all__ = ["CLIENT_FAULTS", "UNREACHABLE", "BoundedCluster", "BoundedPipeline", "BoundedPubSub", "CommandsOnce",
           "bounded_cluster", "guarded"]
