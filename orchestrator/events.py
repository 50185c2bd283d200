"""Where a run's events go: one interface, many destinations (log, store, UI).

A run's end event (``run.finished``/``run.failed``, :func:`end_event`) is written by whoever
records the run's outcome, once that record is saved: ``Orchestrator.run`` when called
directly, the queue's worker with the job's outcome when the run is a queued job's attempt
(it calls :func:`leave_run_end_to_caller` in the attempt's context). So an attempt that is
retried, or stale, never ends the stream, and a follower that sees the end reads the outcome.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from orchestrator.types import Event, RunResult


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


def silent(sink: EventSink) -> bool:
    """Whether ``sink`` drops every event (a :class:`FanOut` of no sinks: a run nobody follows),
    so a run need not build them."""
    return isinstance(sink, FanOut) and not sink.sinks


class Collector:
    """Keeps events in memory (tests, ``Orchestrator.stream``)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def end_event(result: RunResult) -> Event:
    """The event that ends ``result``'s stream: ``run.finished`` if it completed, else ``run.failed``."""
    return Event(type="run.finished" if result.status == "completed" else "run.failed", run_id=result.run_id,
                 data={"status": result.status, "error": result.error, "answer": result.answer,
                       "cost": result.cost.model_dump(mode="json")})


_end_by_caller: ContextVar[bool] = ContextVar("orchestrator_run_end_by_caller", default=False)


def leave_run_end_to_caller() -> None:
    """In the current context (a task and the tasks it starts), runs do not write their end
    event: the caller records the outcome and writes it (the queue's worker)."""
    _end_by_caller.set(True)


def run_end_left_to_caller() -> bool:
    """Has :func:`leave_run_end_to_caller` been called in this context?"""
    return _end_by_caller.get()


class WithoutEnd:
    """Passes every event to ``sink`` except a run's end (for a caller that writes the end itself)."""

    def __init__(self, sink: EventSink):
        self.sink = sink

    async def emit(self, event: Event) -> None:
        if not event.terminal:
            await self.sink.emit(event)


__all__ = ["CallbackSink", "Collector", "EventCallback", "EventSink", "FanOut", "WithoutEnd", "end_event",
           "leave_run_end_to_caller", "run_end_left_to_caller", "silent"]
