"""Connecting to Redis, and turning its failures into :class:`~orchestrator.errors.StoreError`.

Every Redis call of the store and the queue runs inside :func:`redis_errors`, so an
unreachable server surfaces as one clear error naming the URL (never its password),
within the connect timeout, instead of a hang or a bare ``ConnectionError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from orchestrator.errors import StoreError


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """How to connect: timeouts in seconds. Blocking reads stay well below ``socket_timeout``."""

    connect_timeout: float = 2.0
    socket_timeout: float = 10.0
    max_connections: int = 64


def connect(url: str, options: RedisOptions | None = None) -> aioredis.Redis:
    """A client for ``url`` that fails fast when the server is down (no retries on connect).

    Its pool holds at most ``max_connections``; callers beyond that wait for a free
    connection (up to ``socket_timeout``) instead of failing.
    """
    opts = options or RedisOptions()
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=opts.max_connections,
        timeout=opts.socket_timeout,
        socket_connect_timeout=opts.connect_timeout,
        socket_timeout=opts.socket_timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis.from_pool(pool)


def describe(client: aioredis.Redis) -> str:
    """``redis://host:port/db`` of a client, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


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


__all__ = ["RedisOptions", "connect", "describe", "redis_errors", "text"]
