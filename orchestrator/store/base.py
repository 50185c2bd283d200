"""The run store's interface: run records, event streams and conversation history.

A :class:`Store` is an :class:`~orchestrator.events.EventSink`, so an executor can hand
every event of a run straight to it. Two implementations share one test suite:
:class:`~orchestrator.store.memory.MemoryStore` (in-process, the default) and
:class:`~orchestrator.store.redis.RedisStore` (shared by every process on a Redis).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from orchestrator.types import Event, RunResult

Role = Literal["system", "user", "assistant", "tool"]


class ChatMessage(BaseModel):
    """One message of a conversation thread."""

    role: Role
    content: str
    run_id: str | None = None
    """The run that produced (or answered) this message, if any."""
    ts: float = Field(default_factory=time.time)


@runtime_checkable
class Store(Protocol):
    """Where runs, their events and conversations live."""

    async def save_run(self, result: RunResult) -> None:
        """Create or replace the record of ``result.run_id``."""
        ...

    async def get_run(self, run_id: str) -> RunResult | None:
        """The last saved record of a run, or ``None`` if unknown (or expired)."""
        ...

    async def emit(self, event: Event) -> None:
        """Append ``event`` to its run's event stream."""
        ...

    def read_events(
        self,
        run_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[tuple[str, Event]]:
        """Yield ``(cursor, event)`` pairs of a run, oldest first.

        ``after`` resumes after a cursor a previous read yielded. With ``follow`` the
        iterator waits for new events until a terminal event (``Event.terminal``) or until
        ``timeout`` seconds have passed (``None``: no limit); without it, it stops at the
        newest event. Cursors are opaque strings.
        """
        ...

    async def append_message(self, thread_id: str, message: ChatMessage) -> None:
        """Append a message to a conversation thread."""
        ...

    async def history(self, thread_id: str, limit: int = 50) -> list[ChatMessage]:
        """The last ``limit`` messages of a thread, oldest first."""
        ...

    async def aclose(self) -> None:
        """Release connections. The store is not used afterwards."""
        ...


__all__ = ["ChatMessage", "Role", "Store"]
