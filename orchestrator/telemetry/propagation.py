"""Trace context across processes: W3C ``traceparent`` in queued jobs and HTTP requests.

A job submitted inside a span carries that span's context (:func:`inject`); the worker runs
the job under it (:func:`attach`), so the HTTP request, the job and the worker's run are one
trace. With tracing off, :func:`inject` returns None and :func:`attach` does nothing.
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
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier or None


@contextmanager
def attach(carrier: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context in ``carrier`` (a job's, a request's headers) the parent of the spans
    started inside; a missing or malformed one starts a new trace."""
    if not carrier or not tracing.tracing_enabled():
        yield
        return
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    token = context.attach(TraceContextTextMapPropagator().extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)


def headers_carrier(headers: Any) -> dict[str, str] | None:
    """The trace headers of an HTTP request (a Starlette ``Headers`` or any mapping)."""
    parent = headers.get("traceparent")
    if not parent:
        return None
    carrier = {"traceparent": parent}
    state = headers.get("tracestate")
    if state:
        carrier["tracestate"] = state
    return carrier


__all__ = ["attach", "headers_carrier", "inject"]
