"""The Redis store: run records, event streams and conversations shared by every process.

Key layout (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:run:<id>              string  RunResult JSON     (TTL run_ttl)
    <prefix>:run:<id>:events       stream  {"e": Event JSON}  (MAXLEN ~ events_maxlen, TTL events_ttl)
    <prefix>:thread:<id>:messages  list    ChatMessage JSON   (LTRIM max_messages, TTL run_ttl)

In the sharded layout (Redis Cluster) each key carries its id's hash tag after the kind
(``<prefix>:run:{<prefix>:sN}:<id>`` for a queued job's run, ``<prefix>:run:{<id>}:<id>`` else;
see :mod:`orchestrator.keys`), so a run's keys and its job's record share one slot.

Event cursors are stream ids; ``follow`` blocks in ``XREAD BLOCK`` one second at a time,
well under the client's socket timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.redis import fencing
from orchestrator.redis.connection import redis_errors, text
from orchestrator.store.base import ChatMessage
from orchestrator.types import Event, RunResult

if TYPE_CHECKING:
    from orchestrator.settings import Settings

_PAGE = 200
_BLOCK_MS = 1000


class RedisStore:
    """A :class:`~orchestrator.store.base.Store` on plain Redis (core commands only).

    ``client`` is borrowed unless ``owns_client`` is true (then :meth:`aclose` closes it).
    TTLs are in seconds; ``None`` keeps keys forever.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keys: KeySpace,
        *,
        events_maxlen: int = 10_000,
        events_ttl: int | None = 7 * 24 * 3600,
        run_ttl: int | None = 7 * 24 * 3600,
        max_messages: int = 1000,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.keys = keys
        self.events_maxlen = events_maxlen
        self.events_ttl = events_ttl
        self.run_ttl = run_ttl
        self.max_messages = max_messages
        self._owns_client = owns_client

    @classmethod
    def from_settings(cls, client: aioredis.Redis, keys: KeySpace, settings: Settings) -> RedisStore:
        """A store with the deployment's limits (``settings.queue``); ``client`` stays borrowed."""
        q = settings.queue
        return cls(client, keys, events_maxlen=q.events_maxlen, events_ttl=q.events_ttl, run_ttl=q.result_ttl)

    async def save_run(self, result: RunResult) -> None:
        """SET the record (with its TTL); fenced inside a job's attempt (:mod:`orchestrator.redis.fencing`)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.run(result.run_id), result.model_dump_json(), ex=self.run_ttl)
            await fencing.execute(self.client, pipe, "run record")

    async def get_run(self, run_id: str) -> RunResult | None:
        """GET the record, or ``None``."""
        with redis_errors(self.client):
            raw = await self.client.get(self.keys.run(run_id))
        return None if raw is None else RunResult.model_validate_json(raw)

    async def emit(self, event: Event) -> None:
        """XADD (approximately capped) and refresh the stream's TTL, in one round trip; fenced
        inside a job's attempt (:mod:`orchestrator.redis.fencing`)."""
        key = self.keys.run_events(event.run_id)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": event.model_dump_json()}, maxlen=self.events_maxlen, approximate=True)
            if self.events_ttl is not None:
                pipe.expire(key, self.events_ttl)
            await fencing.execute(self.client, pipe, f"{event.type} event")

    async def read_events(
        self,
        run_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - ends a follow, raises nothing
    ) -> AsyncIterator[tuple[str, Event]]:
        """See :meth:`orchestrator.store.base.Store.read_events`."""
        key = self.keys.run_events(run_id)
        cursor = after or "0-0"
        if not follow:
            async for item in self._range(key, cursor):
                yield item
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            block = _BLOCK_MS
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                block = max(1, min(block, int(remaining * 1000)))
            with redis_errors(self.client):
                reply: Any = await self.client.xread({key: cursor}, count=_PAGE, block=block)
            for _stream, entries in reply or []:
                for cursor, event in _events(entries):
                    yield cursor, event
                    if event.terminal:
                        return

    async def _range(self, key: str, cursor: str) -> AsyncIterator[tuple[str, Event]]:
        while True:
            with redis_errors(self.client):
                entries: Any = await self.client.xrange(key, min=f"({cursor}", count=_PAGE)
            for cursor, event in _events(entries):
                yield cursor, event
            if len(entries) < _PAGE:
                return

    async def append_message(self, thread_id: str, message: ChatMessage) -> None:
        """RPUSH, LTRIM to ``max_messages`` and refresh the TTL, in one transaction."""
        key = self.keys.conversation(thread_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, message.model_dump_json())
                pipe.ltrim(key, -self.max_messages, -1)
                if self.run_ttl is not None:
                    pipe.expire(key, self.run_ttl)
                await pipe.execute()

    async def history(self, thread_id: str, limit: int = 50) -> list[ChatMessage]:
        """LRANGE the last ``limit`` messages."""
        if limit <= 0:
            return []
        with redis_errors(self.client):
            raw = await self.client.lrange(self.keys.conversation(thread_id), -limit, -1)
        return [ChatMessage.model_validate_json(item) for item in raw]

    async def aclose(self) -> None:
        """Close the client if this store owns it."""
        if self._owns_client:
            await self.client.aclose()


def _events(entries: list[tuple[Any, dict[Any, Any]]]) -> list[tuple[str, Event]]:
    """Decode stream entries (``[(id, {"e": json})]``) into ``(cursor, Event)`` pairs."""
    decoded = []
    for entry_id, fields in entries:
        raw = fields.get(b"e", fields.get("e"))
        if raw is None:
            raise ValueError(f"event stream entry {text(entry_id)} has no 'e' field")
        decoded.append((text(entry_id), Event.model_validate_json(raw)))
    return decoded


__all__ = ["RedisStore"]
