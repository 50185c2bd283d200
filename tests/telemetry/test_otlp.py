"""OTLP/HTTP export to a local receiver, decoded with the official ``opentelemetry-proto``: the HTTP
request in ``orchestrator serve``, the queued job and the run in ``orchestrator worker`` are one trace."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from orchestrator.keys import KeySpace
from tests.telemetry.processes import app_env, free_port, running, serve, worker


@contextmanager
def receiver() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """An OTLP/HTTP traces endpoint on a free loopback port; yields it and the spans received
    (each with its service name)."""
    spans: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
                for scope in resource.scope_spans:
                    spans.extend({"service": service, "name": s.name, "trace": s.trace_id.hex(),
                                  "id": s.span_id.hex(), "parent": s.parent_span_id.hex()} for s in scope.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], spans
    finally:
        server.shutdown()
        server.server_close()


def test_one_trace_spans_the_http_request_the_queue_and_the_worker(keyspace: KeySpace) -> None:
    with receiver() as (otlp_port, spans):
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port}", "OTEL_BSP_SCHEDULE_DELAY": "100"}
        server_port, worker_port = free_port(), free_port()
        server_env = app_env(keyspace, OTEL_SERVICE_NAME="slm-server", **otel)
        worker_env = app_env(keyspace, OTEL_SERVICE_NAME="slm-worker", **otel)
        with running(serve(server_port), server_port, server_env), \
                running(worker(worker_port), worker_port, worker_env):
            base = f"http://127.0.0.1:{server_port}"
            job_id = httpx.post(f"{base}/v1/jobs", json={"target": "echo", "inputs": {"text": "traced"}}).json()[
                "job_id"]
            deadline = time.monotonic() + 20
            while not any(s["name"] == "chat small" for s in spans):
                assert time.monotonic() < deadline, f"no model-call span arrived: {spans}"
                time.sleep(0.1)
        post, = [s for s in spans if s["name"] == "POST /v1/jobs"]
        assert post["service"] == "slm-server"
        trace = [s for s in spans if s["trace"] == post["trace"]]
        by_name = {s["name"]: s for s in trace}
        run = by_name["invoke_workflow echo"]
        assert run["service"] == "slm-worker" and run["parent"] == post["id"]
        queued = by_name["slm.job.queued"]
        assert queued["service"] == "slm-worker" and queued["parent"] == post["id"]  # the time in the queue
        step = by_name["invoke_agent echo"]
        assert step["parent"] == run["id"] and by_name["chat small"]["parent"] == step["id"]
        assert job_id  # the request that started it all
