"""Model notices: what a model client sees happen to its servers, for the run whose call saw it.

A replicated model (:mod:`orchestrator.models.replicas`) takes a failing replica out and puts
it back once it answers again. Besides logging it, the client hands a :class:`ReplicaChange`
to :func:`notify`; whoever wants to know listens with :func:`noticing` (the engine, around each
model call of a step: a change becomes a ``model.replica_down`` / ``model.replica_up`` event of
that run). Outside a listener, notices go nowhere; a listener that fails is logged, never
fails the call.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReplicaChange:
    """A replica of a model was taken out after a failure, or put back after an answer."""

    model: str
    """The model's reference (``openai:gemma-3-270m``)."""
    endpoint: str
    """The replica's server."""
    up: bool
    """True: back in (it answered); False: taken out."""
    operation: str
    """The call that saw it: ``chat``, ``stream`` or ``embed``."""
    failures: int
    """Transient failures in a row: the one that took it out, or those it came back after."""
    reason: str | None = None
    """Why it was taken out (the error), when it was."""
    retry_in_s: float | None = None
    """Seconds until it is tried again, when it was taken out."""

    @property
    def kind(self) -> Literal["model.replica_down", "model.replica_up"]:
        return "model.replica_up" if self.up else "model.replica_down"

    def data(self) -> dict[str, Any]:
        """The event's data: model, endpoint, operation, failures, and for a replica taken out
        ``reason`` and ``retry_in_s``."""
        data: dict[str, Any] = {"model": self.model, "endpoint": self.endpoint, "operation": self.operation,
                                "failures": self.failures}
        if not self.up:
            data.update(reason=self.reason, retry_in_s=self.retry_in_s)
        return data


NoticeListener = Callable[[ReplicaChange], Awaitable[None]]

_CURRENT: contextvars.ContextVar[NoticeListener | None] = contextvars.ContextVar("orchestrator_notices",
                                                                                 default=None)


@contextlib.contextmanager
def noticing(listener: NoticeListener) -> Iterator[None]:
    """Within the block (and tasks started in it), model notices go to ``listener``."""
    token = _CURRENT.set(listener)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def notify(change: ReplicaChange) -> None:
    """Hand ``change`` to the current listener, if any."""
    listener = _CURRENT.get()
    if listener is None:
        return
    try:
        await listener(change)
    except Exception as exc:  # a sink that fails must not fail the model call
        log.warning("model.notice_failed", model=change.model, notice=change.kind,
                    error=f"{type(exc).__name__}: {exc}")


__all__ = ["NoticeListener", "ReplicaChange", "noticing", "notify"]
