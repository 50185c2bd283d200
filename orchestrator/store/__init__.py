"""Run records, event streams and conversations: in memory, or in Redis.

>>> store = create_store(None, KeySpace())          # in-process
>>> store = create_store("redis://127.0.0.1:6379/0", KeySpace("prod"))
"""

from __future__ import annotations

from orchestrator.keys import KeySpace
from orchestrator.redis.connection import connect
from orchestrator.settings.sections import RedisSettings
from orchestrator.store.base import ChatMessage, Role, Store
from orchestrator.store.memory import MemoryStore
from orchestrator.store.redis import RedisStore


def create_store(
    redis_url: str | None,
    keys: KeySpace,
    *,
    events_maxlen: int = 10_000,
    events_ttl: int | None = 7 * 24 * 3600,
    run_ttl: int | None = 7 * 24 * 3600,
    options: RedisSettings | None = None,
) -> Store:
    """A :class:`RedisStore` (owning its client) for ``redis_url``, else a :class:`MemoryStore`.

    Connecting is lazy: an unreachable server is reported by the first operation, as a
    :class:`~orchestrator.errors.StoreError`.
    """
    if not redis_url:
        return MemoryStore()
    return RedisStore(
        connect(redis_url, options),
        keys,
        events_maxlen=events_maxlen,
        events_ttl=events_ttl,
        run_ttl=run_ttl,
        owns_client=True,
    )


__all__ = ["ChatMessage", "MemoryStore", "RedisStore", "Role", "Store", "create_store"]
