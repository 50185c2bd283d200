"""Picks the model for each attempt and guards every outgoing model request.

Two ideas live here and nowhere else:

* **The cascade.** A step runs on the first model of its specialist's cascade.
  An invalid answer gets one repair attempt on the same model; an answer still
  invalid, or valid but below the specialist's confidence threshold, escalates
  to the next model. Every attempt is recorded on the :class:`StepResult`.
* **The guard.** Every request to a model goes through :class:`GuardedModel`:
  confidential data never reaches a non-local model (and the guard also scans
  outgoing text for confidential values, so a leak through a prompt is caught
  too), optional PII redaction for non-local models, the run's budget, the
  model's concurrency limit, and the token and cost ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel

from orchestrator.errors import BudgetExceeded, ConfigError, ModelError, ModelTimeout, PrivacyViolation
from orchestrator.models.base import Capabilities, Completion, Message, Model, Usage, estimate_tokens
from orchestrator.models.spec import ModelSpec, create_model
from orchestrator.settings import Budget
from orchestrator.specialist import Specialist, Verdict
from orchestrator.types import Attempt, AttemptOutcome, Sensitivity, StepResult

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

Redactor = Callable[[str], str]
_MIN_SECRET_CHARS = 6


@dataclass
class Ledger:
    """What a run has spent, checked against its budget before every model call."""

    budget: Budget = field(default_factory=Budget)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    def check(self) -> None:
        limit_tokens, limit_cost = self.budget.max_tokens, self.budget.max_cost_usd
        if limit_tokens is not None and self.usage.total_tokens >= limit_tokens:
            raise BudgetExceeded("token", limit_tokens, self.usage.total_tokens)
        if limit_cost is not None and self.cost_usd >= limit_cost:
            raise BudgetExceeded("cost (USD)", limit_cost, self.cost_usd)

    def charge(self, usage: Usage, cost: float) -> None:
        self.usage = self.usage + usage
        self.cost_usd += cost


@dataclass
class Confidential:
    """The confidential values of a run: what must never leave local models."""

    values: list[str] = field(default_factory=list)

    def add(self, value: Any) -> None:
        for text in _texts(value):
            text = text.strip()
            if len(text) >= _MIN_SECRET_CHARS and text not in self.values:
                self.values.append(text)

    def leaked_in(self, messages: Sequence[Message]) -> bool:
        outgoing = "\n".join(m.content for m in messages)
        return any(_fragment_leaks(v, outgoing) for v in self.values)


def _fragment_leaks(value: str, outgoing: str) -> bool:
    if value in outgoing:
        return True
    lines = [ln.strip() for ln in value.splitlines() if len(ln.strip()) >= 24]
    return any(ln in outgoing for ln in lines)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return []


class ModelPool:
    """The deployment's models by name: specs, clients (built lazily) and concurrency limits."""

    def __init__(self, specs: Mapping[str, ModelSpec], clients: Mapping[str, Model] | None = None):
        self._specs = dict(specs)
        self._clients: dict[str, Model] = dict(clients or {})
        self._limits: dict[str, asyncio.Semaphore] = {}
        for name, client in self._clients.items():
            self._specs.setdefault(name, ModelSpec(name=name, ref=client.ref,
                                                   local=client.capabilities.local))

    def spec(self, name: str) -> ModelSpec:
        if name not in self._specs:
            if ":" not in name:
                known = ", ".join(sorted(self._specs)) or "none"
                raise ConfigError(f"unknown model {name!r}; configured models: {known}", key="models")
            self._specs[name] = ModelSpec(ref=name)
        return self._specs[name]

    def client(self, name: str) -> Model:
        if name not in self._clients:
            self._clients[name] = create_model(self.spec(name))
        return self._clients[name]

    def limit(self, name: str) -> asyncio.Semaphore:
        if name not in self._limits:
            self._limits[name] = asyncio.Semaphore(self.spec(name).concurrency)
        return self._limits[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


@dataclass
class RunGuard:
    """Everything the guard needs to know about the current run."""

    ledger: Ledger = field(default_factory=Ledger)
    confidential: Confidential = field(default_factory=Confidential)
    redact: Redactor | None = None
    """Applied to outgoing text for non-local models (``redact_for_remote``)."""


class GuardedModel:
    """A model as a step sees it: every request passes the privacy, budget and limit checks."""

    def __init__(self, name: str, pool: ModelPool, guard: RunGuard, *, sensitivity: Sensitivity,
                 step_id: str | None = None):
        self.name = name
        self.spec = pool.spec(name)
        self._inner = pool.client(name)
        self._limit = pool.limit(name)
        self._guard = guard
        self._sensitivity = sensitivity
        self._step_id = step_id
        self.usage = Usage()
        self.cost_usd = 0.0
        self.latency_ms = 0.0

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def local(self) -> bool:
        return self.spec.is_local

    @property
    def capabilities(self) -> Capabilities:
        caps = self._inner.capabilities
        return caps if caps.local == self.local else caps.model_copy(update={"local": self.local})

    def __getattr__(self, name: str) -> Any:
        # Backend extras (e.g. llama.cpp's ``choose``) pass through, still under the guard.
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            self._admit([Message(role="user", content=str(a)) for a in args])
            async with self._limit:
                return await attr(*args, **kwargs)

        return guarded

    def _admit(self, messages: Sequence[Message]) -> Sequence[Message]:
        """The one check every outgoing request passes."""
        if not self.local:
            if self._sensitivity is Sensitivity.CONFIDENTIAL or self._guard.confidential.leaked_in(messages):
                raise PrivacyViolation(self.ref, self._step_id)
            if self._guard.redact is not None:
                redact = self._guard.redact
                messages = [m.model_copy(update={"content": redact(m.content)}) for m in messages]
        self._guard.ledger.check()
        return messages

    async def _bounded(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run one call within the model's concurrency limit and deadline: the spec's timeout for
        every try the client may make, so a hung model costs an attempt (and escalates) instead of
        the whole step's time."""
        seconds = self.spec.timeout * (self.spec.retries + 1)
        try:
            async with self._limit, asyncio.timeout(seconds):
                return await call()
        except TimeoutError:
            raise ModelTimeout(self.ref, seconds) from None

    def _account(self, usage: Usage, latency_ms: float) -> None:
        cost = self.spec.cost(usage.input_tokens, usage.output_tokens)
        self.usage = self.usage + usage
        self.cost_usd += cost
        self.latency_ms += latency_ms
        self._guard.ledger.charge(usage, cost)

    async def complete(self, messages: Sequence[Message], *, schema: dict[str, Any] | None = None,
                       max_tokens: int | None = None, temperature: float = 0.0,
                       logprobs: bool = False) -> Completion:
        messages = self._admit(messages)
        started = time.perf_counter()
        completion = await self._bounded(lambda: self._inner.complete(
            messages, schema=schema, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs))
        self._account(completion.usage, (time.perf_counter() - started) * 1000)
        return completion

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        texts = [m.content for m in self._admit([Message(role="user", content=t) for t in texts])]
        started = time.perf_counter()
        vectors = await self._bounded(lambda: self._inner.embed(texts))
        usage = Usage(input_tokens=sum(estimate_tokens(t) for t in texts))
        self._account(usage, (time.perf_counter() - started) * 1000)
        return vectors

    async def aclose(self) -> None:
        return None  # the pool owns the client


class Router:
    """Runs a specialist over its cascade with repair and escalation."""

    def __init__(self, pool: ModelPool, *, default_cascade: Sequence[str],
                 baseline: ModelSpec | None = None):
        self.pool = pool
        self.default_cascade = list(default_cascade)
        self.baseline = baseline
        """The large model every step is priced against for the saving."""

    def cascade(self, specialist: Specialist[Any, Any]) -> list[str]:
        cascade = specialist.config.cascade or self.default_cascade
        if not cascade:
            raise ConfigError(f"specialist {specialist.name!r} has no models: set its cascade or "
                              "default_cascade in the configuration", key=f"specialists.{specialist.name}")
        return cascade

    async def run(self, specialist: Specialist[Any, Any], request: BaseModel, *, step_id: str,
                  instruction: str, sensitivity: Sensitivity, guard: RunGuard) -> StepResult:
        """Try the cascade; return the accepted answer or a failed StepResult with every attempt.

        Either way the result carries the tokens and cost of every attempt. A budget stop or a
        privacy violation is raised with that partial result attached as ``exc.partial``.
        """
        result = StepResult(step_id=step_id, agent=specialist.name, status="failed")
        try:
            await self._cascade(result, specialist, request, instruction=instruction,
                                sensitivity=sensitivity, guard=guard)
        except (BudgetExceeded, PrivacyViolation) as exc:
            result.error = str(exc)
            exc.partial = self._tally(result)
            raise
        return self._tally(result)

    async def _cascade(self, result: StepResult, specialist: Specialist[Any, Any], request: BaseModel, *,
                       instruction: str, sensitivity: Sensitivity, guard: RunGuard) -> None:
        threshold = specialist.config.threshold
        for name in self.cascade(specialist):
            spec = self.pool.spec(name)
            if sensitivity is Sensitivity.CONFIDENTIAL and not spec.is_local:
                result.attempts.append(Attempt(model=spec.ref, outcome="skipped_not_local", local=False,
                                               problems=["input is confidential; model is not local"]))
                continue
            model = GuardedModel(name, self.pool, guard, sensitivity=sensitivity, step_id=result.step_id)
            verdict = await self._try(result, specialist, request, model, instruction, None)
            if verdict is not None and not verdict.valid:
                verdict = await self._try(result, specialist, request, model, instruction, verdict)
            if verdict is not None and verdict.valid and verdict.confidence >= threshold:
                self._accept(result, verdict, model)
                return
            result.escalated_from.append(spec.ref)
            result.escalation_reason = _escalation_reason(result.attempts[-1], threshold)
            log.info("step.escalate", step=result.step_id, model=spec.ref, reason=result.escalation_reason)
        result.escalated_from = result.escalated_from[:-1]
        result.error = _failure(result.attempts, "no model in the cascade")

    async def _try(self, result: StepResult, specialist: Specialist[Any, Any], request: BaseModel,
                   model: GuardedModel, instruction: str, previous: Verdict | None) -> Verdict | None:
        """One attempt, recorded on ``result`` with what it spent, whatever its outcome."""
        meter = _Meter(model)
        try:
            verdict = await specialist.attempt(request, model, instruction=instruction, previous=previous)
        except (BudgetExceeded, PrivacyViolation) as exc:
            result.attempts.append(meter.attempt("error", repair=previous is not None, problems=[str(exc)]))
            raise
        except Exception as exc:  # a failing model (or client bug) costs an attempt, never the run
            if not isinstance(exc, ModelError):
                log.warning("attempt.crashed", model=model.ref, error_type=type(exc).__name__)
            result.attempts.append(meter.attempt("error", repair=previous is not None, problems=[_describe(exc)]))
            return None
        outcome: AttemptOutcome = "accepted" if verdict.valid else "invalid"
        if verdict.valid and verdict.confidence < specialist.config.threshold:
            outcome = "low_confidence"
        result.attempts.append(meter.attempt(outcome, repair=previous is not None, problems=verdict.problems,
                                             confidence=verdict.confidence))
        return verdict

    @staticmethod
    def _accept(result: StepResult, verdict: Verdict, model: GuardedModel) -> None:
        assert verdict.output is not None
        result.status = "completed"
        result.output = verdict.output.model_dump(mode="json")
        result.model = model.ref
        result.local = model.local
        result.confidence = verdict.confidence
        if not result.escalated_from:
            result.escalation_reason = None

    def _tally(self, result: StepResult) -> StepResult:
        """Sum every attempt's tokens and cost onto the step, and price it on the baseline model."""
        for attempt in result.attempts:
            result.usage = result.usage + attempt.usage
            result.cost_usd += attempt.cost_usd
        if result.status == "completed":
            result.baseline_cost_usd = self.baseline_cost(result.attempts[-1].usage, result.output)
        else:  # the all-large-model run would have paid for this step's request once, too
            paid = [a for a in result.attempts if a.usage.total_tokens]
            result.baseline_cost_usd = self.baseline_cost(paid[-1].usage, None) if paid else 0.0
        return result

    def baseline_cost(self, usage: Usage, output: Any) -> float:
        """What one answer would cost on the baseline (large) model."""
        if self.baseline is None:
            return 0.0
        output_tokens = usage.output_tokens or (estimate_tokens(str(output)) if output is not None else 0)
        return self.baseline.cost(usage.input_tokens, output_tokens)


class _Meter:
    """What a model spent between its creation and :meth:`attempt`: one attempt's tokens, cost, time."""

    def __init__(self, model: GuardedModel):
        self.model = model
        self.usage, self.cost_usd, self.latency_ms = model.usage, model.cost_usd, model.latency_ms
        self.started = time.perf_counter()

    def attempt(self, outcome: AttemptOutcome, *, repair: bool, problems: list[str],
                confidence: float | None = None) -> Attempt:
        model = self.model
        usage = Usage(input_tokens=model.usage.input_tokens - self.usage.input_tokens,
                      output_tokens=model.usage.output_tokens - self.usage.output_tokens)
        latency = max(model.latency_ms - self.latency_ms, 0.0) or (time.perf_counter() - self.started) * 1000
        return Attempt(model=model.ref, outcome=outcome, confidence=confidence, problems=problems, repair=repair,
                       local=model.local, usage=usage, latency_ms=latency, cost_usd=model.cost_usd - self.cost_usd)


def _describe(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"


def _escalation_reason(attempt: Attempt, threshold: float) -> str:
    if attempt.outcome == "low_confidence":
        return f"confidence {attempt.confidence:.2f} below threshold {threshold:.2f} on {attempt.model}"
    if attempt.outcome == "invalid":
        return f"invalid answer after repair on {attempt.model}: {'; '.join(attempt.problems[:3])}"
    return f"{attempt.outcome} on {attempt.model}: {'; '.join(attempt.problems[:1])}"


def _failure(attempts: list[Attempt], fallback: str) -> str:
    if attempts and all(a.outcome == "skipped_not_local" for a in attempts):
        return "input is confidential and no local model is in the cascade; add a local model"
    if not attempts:
        return fallback
    last = attempts[-1]
    detail = "; ".join(last.problems[:3]) or last.outcome
    return f"no model gave an acceptable answer (last: {last.model}, {last.outcome}: {detail})"


__all__ = ["Budget", "Confidential", "GuardedModel", "Ledger", "ModelPool", "Router", "RunGuard"]
