"""Tracing's cost, for ``bench.overhead --tracing``: off, on with a no-op exporter, on with OTLP.

Each mode runs the same specialist-step chain (InMemorySaver) alternately with tracing off,
so every figure is a ratio against "off" measured side by side. "OTLP" batches spans to a
receiver in a separate process on 127.0.0.1 (it answers 200 and drops them), so the receiver's
work is not counted. The off path itself is timed directly: what the helpers cost per step when
tracing is off (the one ``is None`` test each), against the step's own time.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator import telemetry
from orchestrator.types import Sensitivity

Runner = Callable[[], Awaitable[None]]

_RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@contextmanager
def otlp_receiver() -> Iterator[str]:
    """An OTLP/HTTP endpoint in a child process that accepts and drops every export; yields its URL."""
    child = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        yield f"http://127.0.0.1:{child.stdout.readline().strip()}/v1/traces"
    finally:
        child.terminate()
        child.wait(5)


def providers(endpoint: str) -> dict[str, Any]:
    """The tracer providers of the "on" modes."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    noop, otlp = TracerProvider(), TracerProvider()
    noop.add_span_processor(SimpleSpanProcessor(Drop()))
    otlp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return {"no-op exporter": noop, "batching OTLP exporter": otlp}


def traced(run: Runner, provider: Any | None) -> Runner:
    """``run`` with tracing on through ``provider`` (None: off)."""

    async def go() -> None:
        if provider is None:
            telemetry.disable_tracing()
        else:
            telemetry.enable_tracing(provider)
        try:
            await run()
        finally:
            telemetry.disable_tracing()

    return go


def off_path_ns(calls: int = 200_000) -> float:
    """Nanoseconds the off path of one step costs: a step span, a model span and their records."""
    telemetry.disable_tracing()
    spec: Any = type("Spec", (), {"model_id": "m", "scheme": "x", "ref": "x:m", "is_local": True})()
    level = Sensitivity.PUBLIC
    run_id = uuid.uuid4().hex
    started = time.perf_counter_ns()
    for _ in range(calls):
        with telemetry.step_span(run_id, "agent", level) as span, telemetry.model_span(spec, "chat", level, "s"):
            telemetry.record_content(span, level, (), "", lambda texts: False)
    return (time.perf_counter_ns() - started) / calls


__all__ = ["off_path_ns", "otlp_receiver", "providers", "traced"]
