"""Observability: OpenTelemetry traces with the GenAI conventions, Prometheus metrics, run timelines.

Everything is off by default and nothing leaves the machine until the user points it somewhere
(``[telemetry]`` in the config file, or the standard ``OTEL_*`` variables). ``tracing`` holds
the spans, ``metrics`` the counters behind ``/metrics``, ``propagation`` the trace context that
travels with jobs and requests, ``setup`` the SDK wiring and ``timeline`` the per-step bars the
CLI and the web chat draw from a run's record.
"""

from orchestrator.telemetry import metrics
from orchestrator.telemetry.config import TelemetrySettings, resolved
from orchestrator.telemetry.propagation import attach, conversation, headers_carrier, inject
from orchestrator.telemetry.setup import configure_telemetry, process_telemetry, shutdown
from orchestrator.telemetry.timeline import Timeline, render_text, timeline
from orchestrator.telemetry.tracing import (
    ATTRIBUTES,
    captures_content,
    disable_tracing,
    enable_tracing,
    http_span,
    model_span,
    plan_span,
    record_content,
    record_http,
    record_item,
    record_model_call,
    record_plan,
    record_queued,
    record_run,
    record_step,
    run_span,
    step_span,
    tracing_enabled,
)

__all__ = [
    "ATTRIBUTES",
    "TelemetrySettings",
    "Timeline",
    "attach",
    "captures_content",
    "configure_telemetry",
    "conversation",
    "disable_tracing",
    "enable_tracing",
    "headers_carrier",
    "http_span",
    "inject",
    "metrics",
    "model_span",
    "plan_span",
    "process_telemetry",
    "record_content",
    "record_http",
    "record_item",
    "record_model_call",
    "record_plan",
    "record_queued",
    "record_run",
    "record_step",
    "render_text",
    "resolved",
    "run_span",
    "shutdown",
    "step_span",
    "timeline",
    "tracing_enabled",
]
