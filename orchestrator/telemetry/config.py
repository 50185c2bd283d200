"""The telemetry section of a deployment's configuration, merged with the standard ``OTEL_*`` variables.

Off by default: nothing is traced and nothing leaves the machine until the user points it
somewhere, with ``[telemetry] tracing = true`` (and an ``endpoint``) in the config file, or the
standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
``OTEL_TRACES_EXPORTER``). ``OTEL_SDK_DISABLED=true`` turns tracing off whatever else says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Exporter = Literal["otlp", "console", "none"]

DEFAULT_SERVICE = "slm-orchestrator"
CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI instrumentations' opt-in variable for recording message text."""


class TelemetrySettings(BaseModel):
    """Traces and metrics: where they go, and what they may contain."""

    model_config = ConfigDict(extra="forbid")

    tracing: bool | None = None
    """Record spans; None: on when an ``OTEL_*`` variable names an exporter or an endpoint."""
    exporter: Exporter = "otlp"
    """``otlp`` (OTLP over HTTP/protobuf), ``console`` (spans on stdout) or ``none``."""
    endpoint: str | None = None
    """The OTLP/HTTP base URL (``/v1/traces`` is added); None: ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (the SDK's default, ``http://localhost:4318``, otherwise)."""
    service_name: str | None = None
    """The ``service.name`` resource attribute; None: ``OTEL_SERVICE_NAME``, else slm-orchestrator."""
    capture_content: bool = False
    """Record prompt and answer text on model-call spans (never for confidential data); also
    turned on by ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``."""
    metrics: bool = True
    """Count runs, steps, model calls and jobs for the Prometheus ``/metrics`` endpoint."""
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    """A port ``orchestrator worker`` serves ``/metrics`` on (loopback); None: no endpoint."""


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def resolved(settings: TelemetrySettings | None = None, environ: Mapping[str, str] | None = None) -> TelemetrySettings:
    """``settings`` with what the standard variables decide filled in: whether tracing is on,
    the exporter, the service name and the content opt-in (an explicit setting in the file
    wins, except ``OTEL_SDK_DISABLED``, which always turns tracing off)."""
    env = os.environ if environ is None else environ
    given = settings or TelemetrySettings()
    exporter_env = (env.get("OTEL_TRACES_EXPORTER") or "").strip().lower()
    exporter: Exporter = given.exporter
    if "tracing" not in given.model_fields_set and exporter_env in ("otlp", "console", "none"):
        exporter = exporter_env  # type: ignore[assignment]
    tracing = given.tracing
    if tracing is None:
        named = any(env.get(k) for k in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        tracing = (named or exporter_env in ("otlp", "console")) and exporter != "none"
    if _true(env.get("OTEL_SDK_DISABLED")):
        tracing = False
    return given.model_copy(update={
        "tracing": tracing,
        "exporter": exporter,
        "service_name": given.service_name or env.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE,
        "capture_content": given.capture_content or _true(env.get(CONTENT_ENV)),
    })


__all__ = ["CONTENT_ENV", "DEFAULT_SERVICE", "Exporter", "TelemetrySettings", "resolved"]
