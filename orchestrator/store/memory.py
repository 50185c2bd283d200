"""An in-process store: zero set-up, lives as long as the process."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator

from orchestrator.store.base import ChatMessage
from orchestrator.types import Event, RunResult


class MemoryStore:
    """Keeps runs, events and conversations in dictionaries.

    Event cursors are the 1-based position of an event in its run (as a string);
    followers wait on an :class:`asyncio.Condition`, so they must share the event loop
    of the emitting code. ``max_messages`` bounds each conversation like Redis' LTRIM.
    """

    def __init__(self, *, max_messages: int = 1000) -> None:
        self._runs: dict[str, str] = {}
        self._events: defaultdict[str, list[Event]] = defaultdict(list)
        self._threads: defaultdict[str, list[ChatMessage]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._max_messages = max_messages

    async def save_run(self, result: RunResult) -> None:
        """Store a copy (as JSON, so later mutations of ``result`` do not leak in)."""
        self._runs[result.run_id] = result.model_dump_json()

    async def get_run(self, run_id: str) -> RunResult | None:
        """The saved record, or ``None``."""
        raw = self._runs.get(run_id)
        return None if raw is None else RunResult.model_validate_json(raw)

    async def emit(self, event: Event) -> None:
        """Append the event and wake every follower."""
        async with self._changed:
            self._events[event.run_id].append(event.model_copy(deep=True))
            self._changed.notify_all()

    async def read_events(
        self,
        run_id: str,
        *,
        after: str | None = None,
        follow: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - ends a follow, raises nothing
    ) -> AsyncIterator[tuple[str, Event]]:
        """See :meth:`orchestrator.store.base.Store.read_events`."""
        position = int(after) if after else 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            events = self._events.get(run_id, [])
            while position < len(events):
                event = events[position]
                position += 1
                yield str(position), event
                if follow and event.terminal:
                    return
            if not follow:
                return
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            if not await self._wait_for_more(run_id, position, remaining):
                return

    async def _wait_for_more(self, run_id: str, seen: int, within: float | None) -> bool:
        """Wait until a run has more than ``seen`` events; false after ``within`` seconds."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self._events.get(run_id, [])) > seen), within
                )
            except TimeoutError:
                return False
        return True

    async def append_message(self, thread_id: str, message: ChatMessage) -> None:
        """Append, keeping the newest ``max_messages``."""
        thread = self._threads[thread_id]
        thread.append(message.model_copy())
        del thread[: -self._max_messages]

    async def history(self, thread_id: str, limit: int = 50) -> list[ChatMessage]:
        """The last ``limit`` messages, oldest first."""
        if limit <= 0:
            return []
        return [m.model_copy() for m in self._threads.get(thread_id, [])[-limit:]]

    async def aclose(self) -> None:
        """Nothing to release."""


__all__ = ["MemoryStore"]
