"""Metrics for Prometheus: the GenAI client metrics and ours (runs, steps, escalations, spend, queue).

Off until :func:`enable_metrics` (``orchestrator serve`` and ``orchestrator worker`` call it):
until then every recording function is one ``is None`` test, and ``prometheus_client`` is not
imported. The metrics live in a registry of their own (:func:`registry`), never the process-wide
default one, so an application's own metrics stay apart. Labels carry names (agent, model,
status), never content.

GenAI client metrics, named as the conventions name them in Prometheus:
``gen_ai_client_token_usage`` (tokens per call, by ``gen_ai_token_type``) and
``gen_ai_client_operation_duration_seconds`` (seconds per call, by model: the model-call
latency; a failed call carries its ``error_type``). Ours are ``slm_*``: runs and steps by
outcome, escalations, cost, baseline and saving in US dollars, queue depth, jobs in flight, job
outcomes, retries and dead letters. The HTTP server's requests are counted and timed by
method, route template (``/v1/jobs/{job_id}``, never the raw path: no ids, so the label set stays
bounded; a request no route matched is ``unmatched``, an unusual method ``other``) and status:
``slm_http_requests_total`` and ``slm_http_request_duration_seconds``.

The queue depth is read when Prometheus scrapes: the server sets it in its ``/metrics`` handler;
a worker, whose ``/metrics`` is served from a thread, registers a reader with
:func:`queue_depth_at_scrape`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from orchestrator.models.base import Usage
    from orchestrator.types import RunResult, StepResult

_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_GENAI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Metrics:
    """Every metric of one registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tokens = Histogram("gen_ai_client_token_usage", "Tokens used per model call.",
                                [*_GENAI, "gen_ai_token_type"], buckets=_TOKEN_BUCKETS, registry=r)
        self.duration = Histogram("gen_ai_client_operation_duration_seconds", "Seconds per model call.",
                                  [*_GENAI, "error_type"], buckets=_DURATION_BUCKETS, registry=r)
        self.runs = Counter("slm_runs", "Runs finished, by status.", ["status"], registry=r)
        self.steps = Counter("slm_steps", "Steps finished, by agent and status.", ["agent", "status"], registry=r)
        self.escalations = Counter("slm_escalations", "Steps that escalated past their first model.",
                                   ["agent"], registry=r)
        self.cost = Counter("slm_cost_usd", "US dollars spent by runs (planner included).", registry=r)
        self.baseline = Counter("slm_baseline_cost_usd", "What the runs would have cost on the large model.",
                                registry=r)
        self.saving = Counter("slm_saving_usd", "US dollars saved against the large model.", registry=r)
        self.queue_depth = Gauge("slm_queue_depth", "Jobs waiting in the queue (read at scrape).", registry=r)
        self.in_flight = Gauge("slm_jobs_in_flight", "Jobs this worker is running.", registry=r)
        self.jobs = Counter("slm_jobs", "Jobs a worker finished, by status.", ["status"], registry=r)
        self.retries = Counter("slm_job_retries", "Job attempts handed back for a retry.", registry=r)
        self.dead_letters = Counter("slm_dead_letters", "Jobs dead-lettered after their last attempt.", registry=r)
        self.http_requests = Counter("slm_http_requests", "HTTP requests served, by method, route template and status.",
                                     ["method", "route", "status"], registry=r)
        self.http_duration = Histogram("slm_http_request_duration_seconds",
                                       "Seconds per HTTP request (to the response's end), by method, route and status.",
                                       ["method", "route", "status"], buckets=_HTTP_BUCKETS, registry=r)


_STATE: dict[str, _Metrics | None] = {"metrics": None}


def enable_metrics() -> CollectorRegistry:
    """Start counting (idempotent); returns the registry ``/metrics`` serves."""
    current = _STATE["metrics"]
    if current is None:
        current = _STATE["metrics"] = _Metrics()
    return current.registry


def disable_metrics() -> None:
    _STATE["metrics"] = None


def enabled() -> bool:
    return _STATE["metrics"] is not None


def registry() -> CollectorRegistry | None:
    current = _STATE["metrics"]
    return None if current is None else current.registry


def exposition() -> bytes:
    """The metrics in Prometheus' text format (empty when metrics are off)."""
    current = _STATE["metrics"]
    if current is None:
        return b""
    from prometheus_client import generate_latest

    return generate_latest(current.registry)


def model_call(provider: str, model: str, operation: str, usage: Usage | None, seconds: float, *,
               error_type: str = "") -> None:
    """One model request: its duration (``error_type`` names the exception of a failed one, as
    the conventions' ``error.type``), and the tokens of a successful one (``usage``)."""
    current = _STATE["metrics"]
    if current is None:
        return
    labels = (operation, provider, model)
    current.duration.labels(*labels, error_type).observe(seconds)
    if usage is None:
        return
    if usage.input_tokens:
        current.tokens.labels(*labels, "input").observe(usage.input_tokens)
    if usage.output_tokens:
        current.tokens.labels(*labels, "output").observe(usage.output_tokens)


def step_finished(result: StepResult) -> None:
    current = _STATE["metrics"]
    if current is None:
        return
    current.steps.labels(result.agent, result.status).inc()
    if result.escalated_from:
        current.escalations.labels(result.agent).inc()


def run_finished(result: RunResult) -> None:
    current = _STATE["metrics"]
    if current is None:
        return
    current.runs.labels(result.status).inc()
    current.cost.inc(result.cost.cost_usd)
    current.baseline.inc(result.cost.baseline_cost_usd)
    current.saving.inc(result.cost.saving_usd)


def job_finished(status: str, *, dead_letter: bool = False) -> None:
    current = _STATE["metrics"]
    if current is None:
        return
    current.jobs.labels(status).inc()
    if dead_letter:
        current.dead_letters.inc()


def job_retried() -> None:
    current = _STATE["metrics"]
    if current is not None:
        current.retries.inc()


def jobs_in_flight(count: int) -> None:
    current = _STATE["metrics"]
    if current is not None:
        current.in_flight.set(count)


def queue_depth(count: int) -> None:
    current = _STATE["metrics"]
    if current is not None:
        current.queue_depth.set(count)


def queue_depth_at_scrape(depth: Callable[[], Awaitable[int]], loop: asyncio.AbstractEventLoop,
                          *, timeout: float = 5.0) -> None:
    """Read the queue depth at each scrape by running ``depth()`` on ``loop`` (the process's event
    loop, where its Redis client lives) from the thread serving ``/metrics``. A failed or slow read
    exposes NaN for the gauge; the other metrics still go out."""
    current = _STATE["metrics"]
    if current is None:
        return

    def read() -> float:
        future = asyncio.run_coroutine_threadsafe(_awaited(depth), loop)
        try:
            return float(future.result(timeout))
        except Exception:  # Redis away or the loop stopped: no number rather than a stale one
            future.cancel()
            return math.nan

    current.queue_depth.set_function(read)


async def _awaited(depth: Callable[[], Awaitable[int]]) -> int:
    return await depth()


def http_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """One HTTP request; ``route`` is the matched route's template (None: ``unmatched``)."""
    current = _STATE["metrics"]
    if current is None:
        return
    labels = (method if method in _METHODS else "other", route or "unmatched", str(status))
    current.http_requests.labels(*labels).inc()
    current.http_duration.labels(*labels).observe(seconds)


def metric(name: str, labels: dict[str, str] | None = None) -> Any:
    """A sample's current value (``name`` as exposed, e.g. ``slm_runs_total``), None if absent."""
    current = _STATE["metrics"]
    return None if current is None else current.registry.get_sample_value(name, labels or {})


__all__ = [
    "CONTENT_TYPE",
    "disable_metrics",
    "enable_metrics",
    "enabled",
    "exposition",
    "http_request",
    "job_finished",
    "job_retried",
    "jobs_in_flight",
    "metric",
    "model_call",
    "queue_depth",
    "queue_depth_at_scrape",
    "registry",
    "run_finished",
    "step_finished",
]
