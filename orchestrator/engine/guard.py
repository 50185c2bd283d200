"""The guard: what a run may send to which model, what it may spend, and how many at once.

The privacy rule
----------------
Every input of a run carries a sensitivity (``public``, ``internal``,
``confidential``). **Confidential data only ever reaches local models**
(``ModelSpec.is_local``: the deployment's own hardware). Before a non-local
model sees any text, personal data can be redacted from it too.

How it is enforced
------------------
A step never holds a model client: the router hands each attempt a
:class:`GuardedModel`, and every request a specialist (or the planner) makes
goes through its :meth:`GuardedModel._admit`, whatever the method
(``complete``, ``stream``, ``embed``, ``score``, ``choose``). For a model that is not
local, ``_admit``:

1. refuses the request with :class:`~orchestrator.errors.PrivacyViolation` if
   the step's data is confidential (:func:`may_receive`, the same test the
   router uses to skip such models in a cascade);
2. refuses it too if any outgoing text contains a confidential value of the
   run (:class:`Confidential`: every confidential input's strings of six
   characters or more, and each long line of them), so a value that leaked
   into a prompt through another step's output or the planner is still caught;
3. applies the run's redactor (``redact_for_remote``: the registered
   ``redact_pii`` tool) to every outgoing text.

Local models get the original text. Then, for every model, the run's budget
is checked (:class:`Ledger`, raising :class:`~orchestrator.errors.BudgetExceeded`
before a call, never after overspending), the call waits for the model's
concurrency limit and runs within its deadline, and its tokens and cost are
charged to the run. Nothing else in the engine sends a request to a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator import telemetry
from orchestrator.errors import BudgetExceeded, ModelError, ModelTimeout, PrivacyViolation
from orchestrator.models.base import (
    Capabilities,
    Completion,
    Message,
    ScoringModel,
    TextDeltas,
    Usage,
    estimate_tokens,
    scoring_model,
    streaming_model,
)
from orchestrator.models.endpoints import endpoints
from orchestrator.models.notices import ReplicaChange, noticing
from orchestrator.models.pool import ModelPool
from orchestrator.models.spec import ModelSpec
from orchestrator.settings import Budget
from orchestrator.types import Sensitivity

_T = TypeVar("_T")

Redactor = Callable[[str], str | Awaitable[str]]
"""Rewrites text before it goes to a non-local model (sync or async)."""
NoticeSink = Callable[[ReplicaChange, str | None], Awaitable[None]]
"""Receives each model notice of a run's calls with the id of the step that made the call."""
_MIN_SECRET_CHARS = 6
_MIN_SECRET_LINE_CHARS = 24


def may_receive(spec: ModelSpec, sensitivity: Sensitivity) -> bool:
    """The privacy rule: whether data of ``sensitivity`` may be sent to the model of ``spec``."""
    return spec.is_local or sensitivity is not Sensitivity.CONFIDENTIAL


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

    def leaked_in(self, texts: Sequence[str]) -> bool:
        """Whether any confidential value (or a long line of one) occurs in the outgoing ``texts``."""
        if not self.values:
            return False
        outgoing = "\n".join(texts)
        return any(_fragment_leaks(v, outgoing) for v in self.values)


def _fragment_leaks(value: str, outgoing: str) -> bool:
    if value in outgoing:
        return True
    lines = [ln.strip() for ln in value.splitlines() if len(ln.strip()) >= _MIN_SECRET_LINE_CHARS]
    return any(ln in outgoing for ln in lines)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return []


@dataclass
class RunGuard:
    """Everything the guard needs to know about the current run."""

    ledger: Ledger = field(default_factory=Ledger)
    confidential: Confidential = field(default_factory=Confidential)
    redact: Redactor | None = None
    """Applied to outgoing text for non-local models (``redact_for_remote``)."""
    notices: NoticeSink | None = None
    """Where the model notices of the run's calls go (a replica taken out or put back), with the
    step that made the call: the run's events."""

    async def redacted(self, text: str) -> str:
        if self.redact is None:
            return text
        result = self.redact(text)
        return await result if inspect.isawaitable(result) else result


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
        self.calls = 0
        """Requests sent to the model (0: whoever held this answered without it)."""
        self.endpoint: str | None = None
        """The server that gave the latest answer, for a model with several endpoints (replicas)."""

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

    async def _admit(self, texts: Sequence[str]) -> list[str]:
        """The one check every outgoing request passes; returns the texts as they may be sent."""
        admitted = list(texts)
        if not self.local:
            if not may_receive(self.spec, self._sensitivity) or self._guard.confidential.leaked_in(admitted):
                raise PrivacyViolation(self.ref, self._step_id)
            if self._guard.redact is not None:
                admitted = [await self._guard.redacted(t) for t in admitted]
        self._guard.ledger.check()
        self.calls += 1
        return admitted

    async def _bounded(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """Run one call within the model's concurrency limit and deadline: the spec's timeout for
        every try the client may make, so a hung model costs an attempt (and escalates) instead of
        the whole step's time. A replicated model gets a try per replica (it fails over instead of
        retrying)."""
        tries = max(self.spec.retries + 1, len(endpoints(self.spec.options)))
        seconds = self.spec.timeout * tries
        try:
            async with self._limit, asyncio.timeout(seconds):
                with self._noticing():
                    return await call()
        except TimeoutError:
            raise ModelTimeout(self.ref, seconds) from None

    def _noticing(self) -> contextlib.AbstractContextManager[None]:
        """Within it, model notices go to the run's sink, naming this step."""
        sink, step_id = self._guard.notices, self._step_id
        if sink is None:
            return contextlib.nullcontext()

        async def to_run(change: ReplicaChange) -> None:
            await sink(change, step_id)

        return noticing(to_run)

    def _account(self, usage: Usage, started: float, span: Any, operation: str, response_model: str = "") -> None:
        cost = self.spec.cost(usage.input_tokens, usage.output_tokens)
        telemetry.record_model_call(span, self.spec, operation, usage, cost, started, response_model)
        self.usage = self.usage + usage
        self.cost_usd += cost
        self.latency_ms += (time.perf_counter() - started) * 1000
        self._guard.ledger.charge(usage, cost)

    async def _admit_messages(self, messages: Sequence[Message]) -> list[Message]:
        contents = await self._admit([m.content for m in messages])
        return [m if m.content is c else m.model_copy(update={"content": c})
                for m, c in zip(messages, contents, strict=True)]

    async def complete(self, messages: Sequence[Message], *, schema: dict[str, Any] | None = None,
                       max_tokens: int | None = None, temperature: float = 0.0,
                       logprobs: bool = False) -> Completion:
        sent = await self._admit_messages(messages)
        started = time.perf_counter()
        with telemetry.model_span(self.spec, "chat", self._sensitivity, self._step_id) as span:
            completion = await self._bounded(lambda: self._inner.complete(
                sent, schema=schema, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs))
            self._account(completion.usage, started, span, "chat", completion.model)
            self.endpoint = completion.endpoint or self.endpoint
            telemetry.record_content(span, self._sensitivity, sent, completion.text, self._guard.confidential.leaked_in)
        return completion

    async def stream(self, messages: Sequence[Message], on_delta: TextDeltas, *, max_tokens: int | None = None,
                     temperature: float = 0.0, logprobs: bool = False) -> Completion:
        """The inner model's streamed answer (``Capabilities.streaming``), guarded as ``complete`` is."""
        streamer = streaming_model(self._inner)
        if streamer is None:
            raise ModelError(self.ref, "this model does not stream (capabilities.streaming is false)")
        sent = await self._admit_messages(messages)
        started = time.perf_counter()
        with telemetry.model_span(self.spec, "chat", self._sensitivity, self._step_id) as span:
            completion = await self._bounded(lambda: streamer.stream(
                sent, on_delta, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs))
            self._account(completion.usage, started, span, "chat", completion.model)
            self.endpoint = completion.endpoint or self.endpoint
            telemetry.record_content(span, self._sensitivity, sent, completion.text, self._guard.confidential.leaked_in)
        return completion

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        sent = await self._admit(texts)
        started = time.perf_counter()
        with telemetry.model_span(self.spec, "embeddings", self._sensitivity, self._step_id) as span:
            vectors = await self._bounded(lambda: self._inner.embed(sent))
            self._account(Usage(input_tokens=sum(estimate_tokens(t) for t in sent)), started, span, "embeddings")
        return vectors

    async def score(self, prompt: str, options: Sequence[str]) -> list[float]:
        """The inner model's log-likelihood of each option (``Capabilities.scoring``), guarded."""
        scores, _ = await self._scoring(prompt, options, lambda model, p, o: model.score(p, o))
        return scores

    async def choose(self, prompt: str, options: Sequence[str]) -> tuple[str, float]:
        """The likeliest of ``options`` (as given, even if redaction rewrote what was sent)."""
        (chosen, probability), sent = await self._scoring(prompt, options, lambda model, p, o: model.choose(p, o))
        if chosen not in sent:
            raise ModelError(self.ref, f"choose answered {chosen!r}, which is not one of the options")
        return options[sent.index(chosen)], probability

    async def _scoring(self, prompt: str, options: Sequence[str],
                       call: Callable[[ScoringModel, str, list[str]], Awaitable[_T]]) -> tuple[_T, list[str]]:
        """One scoring request through the same checks as ``complete``; returns the options sent."""
        scorer = scoring_model(self._inner)
        if scorer is None:
            raise ModelError(self.ref, "this model does not score (capabilities.scoring is false)")
        sent_prompt, *sent_options = await self._admit([prompt, *options])
        started = time.perf_counter()
        with telemetry.model_span(self.spec, "text_completion", self._sensitivity, self._step_id) as span:
            result = await self._bounded(lambda: call(scorer, sent_prompt, sent_options))
            reads = sum(estimate_tokens(sent_prompt + option) for option in sent_options)
            self._account(Usage(input_tokens=reads), started, span, "text_completion")  # no usage reported
        return result, sent_options

    async def aclose(self) -> None:
        return None  # the pool owns the client


__all__ = ["Confidential", "GuardedModel", "Ledger", "NoticeSink", "Redactor", "RunGuard", "may_receive"]
