"""The HTTP server's telemetry: a server span per request (joining an incoming ``traceparent``),
a structlog access line per request, the Prometheus ``/metrics`` endpoint, and a run's timeline
(``GET /v1/jobs/{id}/timeline``, drawn by the web chat's ``/web/timeline.js``).

The access line carries the method, the path (never the query string, which may hold
``api_key``), the status and the latency; never bodies, headers or keys. A request's chat
conversation (``gen_ai.conversation.id`` on its span and its run's spans) is the thread of a
``/v1/threads/{id}`` path, else the ``X-Conversation-Id`` header (the OpenAI-compatible
endpoint's clients send it; the body's ``user`` names an end user, not a conversation). ``/metrics`` needs no
API key, like ``/healthz``: it holds counts and names only, no content.
"""

from __future__ import annotations

import re
import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator import telemetry
from orchestrator.errors import JobError
from orchestrator.interfaces.http.auth import KeyedRoute
from orchestrator.interfaces.http.backends import settled
from orchestrator.interfaces.http.errors import ApiError, error_response
from orchestrator.interfaces.http.routes import backend
from orchestrator.interfaces.http.schemas import ErrorResponse
from orchestrator.interfaces.http.threads import THREAD_ID_PATTERN
from orchestrator.logging import get_logger
from orchestrator.telemetry import metrics
from orchestrator.telemetry.timeline import Timeline, timeline

access_log = get_logger("orchestrator.http.access")
_THREAD = re.compile(r"^/v1/threads/([^/]+)")
_CONVERSATION = re.compile(THREAD_ID_PATTERN)
CONVERSATION_HEADER = "X-Conversation-Id"


class Observed:
    """ASGI middleware: trace and log every HTTP request (outermost, so refusals count too)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        method, path, headers = scope["method"], scope["path"], Headers(scope=scope)
        conversation_id, refusal = _conversation_id(path, headers)
        with (telemetry.attach(telemetry.headers_carrier(headers)),
              telemetry.conversation(conversation_id),
              telemetry.http_span(method, path) as span):
            try:
                await (refusal or self.app)(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                seconds = time.perf_counter() - started
                telemetry.record_http(span, method, route, status[0])
                metrics.http_request(method, route, status[0], seconds)
                access_log.info("http.request", method=method, path=path, status=status[0],
                                latency_ms=round(seconds * 1000, 2))


def _conversation_id(path: str, headers: Headers) -> tuple[str | None, ASGIApp | None]:
    """The chat conversation a request belongs to (``gen_ai.conversation.id``): a thread's id from
    its path, else the ``X-Conversation-Id`` header (what ``/v1/chat/completions`` clients send);
    a malformed header gets a 400 (the second item) instead of being recorded."""
    thread = _THREAD.match(path)
    if thread:
        return thread.group(1), None
    sent = headers.get(CONVERSATION_HEADER)
    if sent is None or _CONVERSATION.match(sent):
        return sent or None, None
    return None, error_response(400, "invalid_request",
                                f"{CONVERSATION_HEADER}: {sent[:40]!r} is not a conversation id; send 1-128 "
                                "letters, digits and _ . : - (starting with a letter or digit), or leave it out")


async def metrics_endpoint(request: Request) -> Response:
    """The metrics in Prometheus' text format, the queue depth read at the scrape."""
    backend: Any = getattr(request.app.state, "jobs", None)
    depth = getattr(backend, "depth", None)
    if depth is not None:
        try:
            metrics.queue_depth(await depth())
        except Exception as exc:  # Redis away: the other metrics still go out
            access_log.warning("metrics.queue_depth_failed", error=type(exc).__name__)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


timelines = APIRouter(prefix="/v1", route_class=KeyedRoute,
                      responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})


@timelines.get("/jobs/{job_id}/timeline", response_model=Timeline, summary="A finished job's run as a timeline")
async def job_timeline(job_id: str, request: Request) -> Timeline:
    """Each step of the job's run as bars over time (waiting, escalated, running), with its model,
    local or cloud, tokens and cost: what the web chat draws."""
    jobs = backend(request)
    try:
        await settled(jobs, job_id)
    except JobError:
        raise ApiError(404, "not_found", f"no job {job_id!r}") from None
    run = await jobs.run_record(job_id)
    if run is None:
        raise ApiError(404, "not_found", f"job {job_id!r} has no run record yet: ask again once it has run")
    return timeline(run)


async def timeline_script() -> Response:
    script = resources.files("orchestrator.interfaces") / "web" / "timeline.js"
    return Response(script.read_text("utf-8"), media_type="text/javascript", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI, *, metrics_on: bool = True) -> None:
    """Trace and log ``app``'s requests, serve ``/metrics`` (counting from now, if ``metrics_on``),
    the timeline route and its script."""
    if metrics_on:
        metrics.enable_metrics()
    app.add_middleware(Observed)
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.add_api_route("/web/timeline.js", timeline_script, methods=["GET"], include_in_schema=False)
    app.include_router(timelines)


__all__ = ["CONVERSATION_HEADER", "Observed", "install", "job_timeline", "metrics_endpoint", "timelines"]
