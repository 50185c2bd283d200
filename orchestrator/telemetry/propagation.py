"""Trace context across processes: W3C ``traceparent`` (and ``baggage``) in queued jobs and HTTP requests.

A job submitted inside a span carries that span's context (:func:`inject`); the worker runs
the job under it (:func:`attach`), so the HTTP request, the job and the worker's run are one
trace. A chat thread's id rides along as baggage (:func:`conversation`), so the worker's run span
carries ``gen_ai.conversation.id``. With tracing off, :func:`inject` returns None and the
context managers do nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from orchestrator.telemetry import tracing


def inject() -> dict[str, str] | None:
    """The current trace context as ``traceparent`` (and ``tracestate``) entries; None when
    tracing is off or no span is current."""
    if not tracing.tracing_enabled():
        return None
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return carrier or None


@contextmanager
def attach(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context in ``carrier`` (a job's, a request's headers) the parent of the spans
    started inside; a missing or malformed one starts a new trace."""
    if not carrier or not tracing.tracing_enabled():
        yield
        return
    from opentelemetry import context

    token = context.attach(_propagator().extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)


@contextmanager
def conversation(conversation_id: str | None) -> Iterator[None]:
    """Spans started inside (and runs of jobs submitted inside) belong to chat thread ``conversation_id``."""
    if not conversation_id or not tracing.tracing_enabled():
        yield
        return
    from opentelemetry import baggage, context

    token = context.attach(baggage.set_baggage(CONVERSATION, conversation_id))
    try:
        yield
    finally:
        context.detach(token)


def _propagator() -> Any:
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def headers_carrier(headers: Any) -> dict[str, str] | None:
    """The trace headers of an HTTP request (a Starlette ``Headers`` or any mapping)."""
    parent = headers.get("traceparent")
    if not parent:
        return None
    carrier = {"traceparent": parent}
    for name in ("tracestate", "baggage"):
        value = headers.get(name)
        if value:
            carrier[name] = value
    return carrier


CONVERSATION = "gen_ai.conversation.id"

__all__ = ["CONVERSATION", "attach", "conversation", "headers_carrier", "inject"]
