"""Where a run's events go: one interface, many destinations (log, store, UI)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from orchestrator.types import Event


@runtime_checkable
class EventSink(Protocol):
    """Receives every event of a run, in order."""

    async def emit(self, event: Event) -> None: ...


EventCallback = Callable[[Event], Awaitable[None] | None]


class CallbackSink:
    """Adapts a plain (sync or async) callback to :class:`EventSink`."""

    def __init__(self, callback: EventCallback):
        self._callback = callback

    async def emit(self, event: Event) -> None:
        result = self._callback(event)
        if inspect.isawaitable(result):
            await result


class FanOut:
    """Sends each event to several sinks, in order."""

    def __init__(self, sinks: Sequence[EventSink]):
        self.sinks = list(sinks)

    async def emit(self, event: Event) -> None:
        for sink in self.sinks:
            await sink.emit(event)


class Collector:
    """Keeps events in memory (tests, ``Orchestrator.stream``)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


__all__ = ["CallbackSink", "Collector", "EventCallback", "EventSink", "FanOut"]
