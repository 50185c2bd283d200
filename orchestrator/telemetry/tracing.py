"""Spans through the OpenTelemetry API, named and attributed by the GenAI semantic conventions.

One span per run (``invoke_workflow``), per planning (``slm.plan``), per step (``invoke_agent``
or ``execute_tool``, with a child per item of a fan-out) and per model call (``chat`` or
``embeddings``). The GenAI attributes carry their standard names (``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.response.model``,
``gen_ai.usage.input_tokens`` / ``output_tokens``, ``gen_ai.agent.name``,
``gen_ai.conversation.id``); ours live under ``slm.`` (:data:`ATTRIBUTES` lists them).

Off until :func:`enable_tracing`: every helper then returns one shared do-nothing context
manager after a single ``is None`` test, and OpenTelemetry is not even imported. Message text is
recorded only when the user opts in (:func:`record_content`), and never for confidential data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from orchestrator.telemetry import metrics

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from orchestrator.models.base import Usage
    from orchestrator.models.spec import ModelSpec
    from orchestrator.types import RunResult, Sensitivity, StepResult

INSTRUMENTATION = "orchestrator"
ATTRIBUTES = (
    "slm.run.id", "slm.run.kind", "slm.run.status", "slm.step.id", "slm.step.status", "slm.step.item",
    "slm.step.attempts", "slm.plan.phase", "slm.plan.steps", "slm.planner.model", "slm.model", "slm.local",
    "slm.confidence", "slm.escalated_from", "slm.sensitivity", "slm.cost_usd", "slm.baseline_cost_usd",
    "slm.saving_usd", "slm.job.id", "slm.job.attempt",
)
"""Our own span attributes (the GenAI ones keep their standard names)."""

_OFF: AbstractContextManager[None] = nullcontext()
_PROVIDERS = {"llamacpp": "llama.cpp", "openai": "openai", "ollama": "ollama"}


class _Tracing:
    __slots__ = ("content", "provider", "tracer")

    def __init__(self) -> None:
        self.tracer: Tracer | None = None
        self.provider: TracerProvider | None = None
        self.content = False


_STATE = _Tracing()


def enable_tracing(provider: TracerProvider | None = None, *, capture_content: bool = False) -> None:
    """Record spans with ``provider`` (default: OpenTelemetry's global one, which an application
    may have set up already); ``capture_content`` records prompts and answers that are not
    confidential."""
    from orchestrator._optional import needs_extra

    with needs_extra("otel", needed_for="tracing"):
        from opentelemetry import trace

    _STATE.provider = provider or trace.get_tracer_provider()
    _STATE.tracer = _STATE.provider.get_tracer(INSTRUMENTATION)
    _STATE.content = capture_content


def disable_tracing() -> None:
    """Stop recording spans (the provider is left as it is; shutting it down is its owner's job)."""
    _STATE.tracer = _STATE.provider = None
    _STATE.content = False


def tracing_enabled() -> bool:
    return _STATE.tracer is not None


def captures_content() -> bool:
    return _STATE.tracer is not None and _STATE.content


@contextmanager
def _span(name: str, attributes: dict[str, Any], *, server: bool = False) -> Iterator[Span]:
    """A current span; an exception through it marks it failed with ``error.type`` only (its
    message may quote data, so it is not recorded)."""
    assert _STATE.tracer is not None
    from opentelemetry.trace import SpanKind

    kind = SpanKind.SERVER if server else SpanKind.INTERNAL
    with _STATE.tracer.start_as_current_span(name, kind=kind, attributes=attributes, record_exception=False,
                                             set_status_on_exception=False) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            _error(span, type(exc).__qualname__)
            raise


# -- runs and planning ------------------------------------------------------------------------


def run_span(run_id: str, target: object, *, planned: bool,
             conversation_id: str | None = None) -> AbstractContextManager[Span | None]:
    """The span of one run of ``target`` (a workflow's name or object, a plan, a task):
    named after the workflow, or ``plan`` / ``task``, never after the task's text (it may be
    confidential). ``planned``: the planner makes the plan (a free-form task). The chat thread
    (``gen_ai.conversation.id``) comes from ``conversation_id`` or the context's baggage."""
    if _STATE.tracer is None:
        return _OFF
    from orchestrator.plan import Plan
    from orchestrator.workflow import Workflow

    if planned:
        name = kind = "task"
    elif isinstance(target, Plan):
        name = kind = "plan"
    else:
        name, kind = (target.name if isinstance(target, Workflow) else str(target)), "workflow"
    attributes: dict[str, Any] = {"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": name,
                                  "slm.run.id": run_id, "slm.run.kind": kind}
    conversation_id = conversation_id or _conversation()
    if conversation_id:
        attributes["gen_ai.conversation.id"] = conversation_id
    return _span(f"invoke_workflow {name}", attributes)


def record_run(span: Span | None, result: RunResult) -> None:
    """A finished run's outcome, tokens, cost and saving, on its span and in the metrics."""
    metrics.run_finished(result)
    if span is None:
        return
    cost = result.cost
    span.set_attributes({
        "slm.run.status": result.status, "slm.cost_usd": cost.cost_usd,
        "slm.baseline_cost_usd": cost.baseline_cost_usd, "slm.saving_usd": cost.saving_usd,
        "gen_ai.usage.input_tokens": cost.usage.input_tokens, "gen_ai.usage.output_tokens": cost.usage.output_tokens,
    })
    if result.status != "completed":
        _error(span, f"run {result.status}")


def plan_span(phase: int, planner_model: str | None) -> AbstractContextManager[Span | None]:
    """Making the plan (``phase`` 0) or the new plan after a failure (1); ``planner_model`` is the
    model that plans, None for a workflow's compiled or a given plan."""
    if _STATE.tracer is None:
        return _OFF
    attributes: dict[str, Any] = {"slm.plan.phase": phase, "slm.run.kind": "task" if planner_model else "workflow"}
    if planner_model:
        attributes["slm.planner.model"] = planner_model
    return _span("slm.replan" if phase else "slm.plan", attributes)


def record_plan(span: Span | None, plan: dict[str, Any]) -> None:
    if span is not None:
        span.set_attribute("slm.plan.steps", len(plan.get("steps") or ()))


# -- steps --------------------------------------------------------------------------------------


def step_span(step_id: str, agent: str, sensitivity: Sensitivity, *, tool: bool = False,
              item: int | None = None) -> AbstractContextManager[Span | None]:
    """One step (or, with ``item``, one item of a fan-out step) on ``agent``, a specialist
    (``invoke_agent``) or a ``tool`` (``execute_tool``)."""
    if _STATE.tracer is None:
        return _OFF
    operation = "execute_tool" if tool else "invoke_agent"
    attributes: dict[str, Any] = {"gen_ai.operation.name": operation, "slm.step.id": step_id,
                                  "gen_ai.tool.name" if tool else "gen_ai.agent.name": agent,
                                  "slm.sensitivity": sensitivity.value}
    if item is not None:
        attributes["slm.step.item"] = item
    return _span(f"{operation} {agent}", attributes)


def record_step(span: Span | None, result: StepResult) -> None:
    """What a step did: outcome, the accepted model, attempts (one event each), escalation, spend.
    Error text goes on the span only when the step's data was not confidential."""
    metrics.step_finished(result)
    if span is not None:
        _step_attributes(span, result, result.sensitivity)


def record_item(span: Span | None, result: StepResult, sensitivity: Sensitivity) -> None:
    """What one item of a fan-out did (counted in the metrics with its step, not here)."""
    if span is not None:
        _step_attributes(span, result, sensitivity)


def _step_attributes(span: Span, result: StepResult, sensitivity: Sensitivity | None) -> None:
    attributes: dict[str, Any] = {
        "slm.step.status": result.status, "slm.local": result.local, "slm.step.attempts": len(result.attempts),
        "slm.cost_usd": result.cost_usd, "slm.baseline_cost_usd": result.baseline_cost_usd,
        "gen_ai.usage.input_tokens": result.usage.input_tokens,
        "gen_ai.usage.output_tokens": result.usage.output_tokens,
    }
    if result.model is not None:
        attributes["slm.model"] = result.model
    if result.confidence is not None:
        attributes["slm.confidence"] = result.confidence
    if result.escalated_from:
        attributes["slm.escalated_from"] = list(result.escalated_from)
    span.set_attributes(attributes)  # one call: each one takes the span's lock and checks the value
    for attempt in result.attempts:
        event: dict[str, Any] = {"slm.model": attempt.model, "slm.attempt.outcome": attempt.outcome,
                                 "slm.attempt.repair": attempt.repair, "slm.local": attempt.local}
        if attempt.confidence is not None:
            event["slm.confidence"] = attempt.confidence
        span.add_event("slm.attempt", event)
    if result.status == "failed":
        confidential = sensitivity is not None and sensitivity.value == "confidential"
        _error(span, "step failed" if confidential or not result.error else result.error)


# -- the queue -------------------------------------------------------------------------------


def record_queued(job_id: str, attempt: int, queued_at: float) -> None:
    """The time a job spent in the queue, from its submission (``queued_at``, epoch seconds) until
    a worker started this ``attempt``: a span of the submitter's trace, ended now."""
    if _STATE.tracer is None:
        return
    from opentelemetry.trace import SpanKind

    now = time.time_ns()
    span = _STATE.tracer.start_span("slm.job.queued", kind=SpanKind.CONSUMER, start_time=min(int(queued_at * 1e9), now),
                                    attributes={"messaging.system": "redis", "messaging.operation.type": "process",
                                                "slm.job.id": job_id, "slm.job.attempt": attempt})
    span.end(end_time=now)


# -- HTTP requests -------------------------------------------------------------------------------


def http_span(method: str, path: str) -> AbstractContextManager[Span | None]:
    """The server span of one HTTP request (renamed after its route once it is known)."""
    if _STATE.tracer is None:
        return _OFF
    attributes: dict[str, Any] = {"http.request.method": method, "url.path": path}
    conversation_id = _conversation()
    if conversation_id:
        attributes["gen_ai.conversation.id"] = conversation_id
    return _span(method, attributes, server=True)


def record_http(span: Span | None, method: str, route: str | None, status: int) -> None:
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if route:
        span.set_attribute("http.route", route)
        span.update_name(f"{method} {route}")
    if status >= 500:
        _error(span, f"HTTP {status}")


# -- model calls -------------------------------------------------------------------------------


def model_span(spec: ModelSpec, operation: str, sensitivity: Sensitivity,
               step_id: str | None) -> AbstractContextManager[Span | None]:
    """One request to a model (``operation``: ``chat``, ``embeddings``, ``text_completion``); a
    request that raises is counted in the duration metric with its ``error_type``."""
    if _STATE.tracer is None and not metrics.enabled():
        return _OFF
    return _model_call(spec, operation, sensitivity, step_id)


@contextmanager
def _model_call(spec: ModelSpec, operation: str, sensitivity: Sensitivity,
                step_id: str | None) -> Iterator[Span | None]:
    started = time.perf_counter()
    try:
        if _STATE.tracer is None:
            yield None
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation, "gen_ai.provider.name": provider_name(spec),
            "gen_ai.request.model": spec.model_id, "slm.model": spec.ref, "slm.local": spec.is_local,
            "slm.sensitivity": sensitivity.value}
        if step_id:
            attributes["slm.step.id"] = step_id
        with _span(f"{operation} {spec.model_id}", attributes) as span:
            yield span
    except Exception as exc:
        metrics.model_call(provider_name(spec), spec.model_id, operation, None, time.perf_counter() - started,
                           error_type=type(exc).__qualname__)
        raise


def record_model_call(span: Span | None, spec: ModelSpec, operation: str, usage: Usage, cost_usd: float,
                      started: float, response_model: str = "") -> None:
    """What one model request spent (``started``: its ``time.perf_counter()``), on its span and in
    the GenAI client metrics."""
    if metrics.enabled():
        metrics.model_call(provider_name(spec), spec.model_id, operation, usage, time.perf_counter() - started)
    if span is None:
        return
    attributes: dict[str, Any] = {"gen_ai.usage.input_tokens": usage.input_tokens,
                                  "gen_ai.usage.output_tokens": usage.output_tokens, "slm.cost_usd": cost_usd}
    if response_model:
        attributes["gen_ai.response.model"] = response_model.split(":", 1)[-1]
    span.set_attributes(attributes)


def record_content(span: Span | None, sensitivity: Sensitivity, sent: Sequence[Any], answer: str,
                   leaked: Callable[[Sequence[str]], bool]) -> None:
    """The prompt and answer text of a model call, when the user opted in and none of it is
    confidential (neither the step's level nor any known confidential value, by ``leaked``)."""
    if span is None or not _STATE.content or sensitivity.value == "confidential":
        return
    texts = [str(getattr(m, "content", m)) for m in sent]
    if leaked([*texts, answer]):
        return
    import json

    messages = [{"role": getattr(m, "role", "user"), "parts": [{"type": "text", "content": t}]}
                for m, t in zip(sent, texts, strict=True)]
    span.set_attribute("gen_ai.input.messages", json.dumps(messages))
    span.set_attribute("gen_ai.output.messages", json.dumps(
        [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]))


def provider_name(spec: ModelSpec) -> str:
    """``gen_ai.provider.name`` for a model spec (the scheme, spelled as the conventions do)."""
    return _PROVIDERS.get(spec.scheme, spec.scheme)


def _conversation() -> str | None:
    """The chat thread the current context belongs to (W3C baggage), if any."""
    from opentelemetry import baggage

    value = baggage.get_baggage("gen_ai.conversation.id")
    return str(value) if value else None


def _error(span: Span, description: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, description))


__all__ = [
    "ATTRIBUTES",
    "INSTRUMENTATION",
    "captures_content",
    "disable_tracing",
    "enable_tracing",
    "http_span",
    "model_span",
    "plan_span",
    "provider_name",
    "record_content",
    "record_http",
    "record_item",
    "record_model_call",
    "record_plan",
    "record_queued",
    "record_run",
    "record_step",
    "run_span",
    "step_span",
    "tracing_enabled",
]
