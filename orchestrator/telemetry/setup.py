"""Turning telemetry on for a process from its settings: the SDK's tracer provider and exporter.

:func:`configure_telemetry` is what the ``orchestrator`` commands call; a library user who has
set up OpenTelemetry already calls :func:`~orchestrator.telemetry.enable_tracing` instead. The
SDK and the OTLP exporter come with the ``otel`` extra (``pip install 'slm-orchestrator[otel]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator._optional import needs_extra
from orchestrator.logging import get_logger
from orchestrator.telemetry import metrics, tracing
from orchestrator.telemetry.config import TelemetrySettings, resolved

log = get_logger(__name__)

_OWNED: dict[str, Any] = {}
"""The tracer provider this module made (shut down, flushing its spans, by :func:`shutdown`)."""


def configure_telemetry(settings: TelemetrySettings | None = None, *, metrics_on: bool = False,
                        processor: Any = None) -> TelemetrySettings:
    """Set up tracing (and, with ``metrics_on``, metrics) as ``settings`` and the ``OTEL_*``
    variables say; returns the settings as resolved. ``processor`` replaces the exporter's
    batching span processor (tests pass one with an in-memory exporter)."""
    final = resolved(settings)
    if metrics_on and final.metrics:
        metrics.enable_metrics()
    if not final.tracing and processor is None:
        return final
    with needs_extra("otel", needed_for="tracing (telemetry.tracing, or an OTEL_* exporter variable)"):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    provider = TracerProvider(resource=Resource.create({"service.name": final.service_name or ""}))
    provider.add_span_processor(processor or _batching(final))
    shutdown()
    _OWNED["provider"] = provider
    tracing.enable_tracing(provider, capture_content=final.capture_content)
    return final


def _batching(settings: TelemetrySettings) -> Any:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if settings.exporter == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    with needs_extra("otel", needed_for="the OTLP trace exporter"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.endpoint and settings.endpoint.rstrip("/") + "/v1/traces"
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter())


@contextmanager
def process_telemetry(settings: TelemetrySettings | None = None, *, metrics_on: bool = False,
                      metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> Iterator[TelemetrySettings]:
    """Telemetry for the life of a process (``orchestrator serve``, ``orchestrator worker``): set up,
    with ``metrics_port`` (else ``settings.metrics_port``) ``/metrics`` served on ``metrics_host``
    from a thread, and on exit the server stopped and the spans flushed."""
    port = metrics_port if metrics_port is not None else (settings.metrics_port if settings else None)
    final = configure_telemetry(settings, metrics_on=metrics_on or port is not None)
    server = None
    registry = metrics.registry()
    if port is not None and registry is not None:
        from prometheus_client import start_http_server

        server, _ = start_http_server(port, addr=metrics_host, registry=registry)
        log.info("metrics.serving", host=metrics_host, port=server.server_port)
    try:
        yield final
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        shutdown()


def shutdown() -> None:
    """Flush and close the tracer provider :func:`configure_telemetry` made, and stop tracing."""
    provider = _OWNED.pop("provider", None)
    if provider is not None:
        tracing.disable_tracing()
        provider.shutdown()


__all__ = ["configure_telemetry", "process_telemetry", "shutdown"]
