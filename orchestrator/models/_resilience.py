"""What every model client wraps around a backend call: guard, limit, timeout, retry, clock.

A :class:`CallPolicy` is built from a :class:`ModelSpec` and a classifier that
turns the backend library's exceptions into :class:`ModelError`. Each call:

1. asks :func:`orchestrator.models.guard.check` whether real requests are allowed;
2. waits for one of ``spec.concurrency`` slots;
3. runs the request under ``spec.timeout`` (raising :class:`ModelTimeout`);
4. retries transient failures (connection refused/reset, 408, 429, 5xx, timeouts)
   up to ``spec.retries`` times with exponential backoff and full jitter; other
   4xx and anything not retryable is raised at once;
5. returns the result with the wall time the caller waited, retries included.

It also holds the small output helpers every client shares (:func:`parse_json`,
:func:`schema_instruction`), so no client copies another.

Backoff is tuned with ``spec.options["retry_backoff"]`` (first delay in seconds,
default 0.5) and ``spec.options["retry_backoff_max"]`` (cap, default 8).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from orchestrator.errors import ModelError, ModelTimeout
from orchestrator.logging import get_logger
from orchestrator.models import guard
from orchestrator.models.base import TextDeltas
from orchestrator.models.json_answer import json_answer
from orchestrator.models.spec import ModelSpec

T = TypeVar("T")
Classifier = Callable[[Exception], ModelError | None]
"""Maps a backend exception to a ModelError, or None when it does not recognise it."""

log = get_logger(__name__)

_RETRYABLE_STATUS = frozenset({408, 429})


def status_is_transient(status: int | None) -> bool:
    """True for HTTP statuses worth retrying: 408 (timeout), 429 (rate limit) and every 5xx."""
    return status is not None and (status >= 500 or status in _RETRYABLE_STATUS)


def status_error(model: str, status: int, detail: str) -> ModelError:
    """A ModelError for an HTTP error status, retryable when the status is transient."""
    if status == 401 or status == 403:
        hint = "; check the API key (the env variable named by options.api_key_env)"
    elif status == 429:
        hint = "; the backend is rate limiting, lower this model's concurrency"
    else:
        hint = ""
    retryable = status_is_transient(status)
    return ModelError(model, f"HTTP {status}: {detail}{hint}", retryable=retryable, status=status)


def connection_error(
    model: str, where: str, hint: str = "", *, what: str = "connection refused"
) -> ModelError:
    """A retryable ModelError for a backend that could not be reached or dropped the connection."""
    suffix = f" — {hint}" if hint else ""
    return ModelError(model, f"{what} at {where}{suffix}", retryable=True)


class CallPolicy:
    """Guard, concurrency limit, timeout and retries for one model's calls."""

    def __init__(self, spec: ModelSpec, classify: Classifier, *, retries: int | None = None):
        self.ref = spec.ref
        self.timeout = spec.timeout
        self.retries = spec.retries if retries is None else retries
        self.concurrency = spec.concurrency
        self.backoff = float(spec.options.get("retry_backoff", 0.5))
        self.backoff_max = float(spec.options.get("retry_backoff_max", 8.0))
        self._classify = classify
        # One semaphore per event loop: a client may outlive an ``asyncio.run``.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.concurrency)
        return slots

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): full jitter under an exponential cap."""
        cap = min(self.backoff_max, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(cap / 2, cap)

    def to_model_error(self, exc: Exception) -> ModelError:
        """The ModelError for ``exc``: the classifier's answer, else a non-retryable wrap."""
        if isinstance(exc, ModelError):
            return exc
        if isinstance(exc, TimeoutError):
            return ModelTimeout(self.ref, self.timeout)
        mapped = self._classify(exc)
        if mapped is not None:
            return mapped
        return ModelError(self.ref, f"unexpected {type(exc).__name__}: {exc}")

    async def run(self, operation: str, request: Callable[[], Awaitable[T]],
                  may_retry: Callable[[], bool] | None = None) -> tuple[T, float]:
        """Run ``request`` with the policy; returns its result and the latency in milliseconds.
        ``may_retry`` (when given) must also say yes before a failure is retried."""
        guard.check(self.ref)
        started = time.perf_counter()
        attempt = 0
        while True:
            try:
                async with self._semaphore():
                    async with asyncio.timeout(self.timeout):
                        result = await request()
                return result, (time.perf_counter() - started) * 1000
            except Exception as exc:
                error = self.to_model_error(exc)
                if not error.retryable or attempt >= self.retries or (may_retry is not None and not may_retry()):
                    log.warning("model.failed", model=self.ref, operation=operation, attempts=attempt + 1,
                                status=error.status, retryable=error.retryable, reason=error.reason)
                    if error is exc:
                        raise
                    raise error from exc
                attempt += 1
                pause = self.delay(attempt)
                log.info("model.retry", model=self.ref, operation=operation, attempt=attempt,
                         status=error.status, reason=error.reason, backoff_s=round(pause, 3))
                await asyncio.sleep(pause)

    async def stream(self, request: Callable[[TextDeltas], Awaitable[T]], on_delta: TextDeltas) -> tuple[T, float]:
        """:meth:`run` for a streamed answer: ``request`` hands its pieces to the given callback,
        and a failure is retried only while no piece has gone out (a retry would repeat them)."""
        sent = False

        async def tracked(piece: str) -> None:
            nonlocal sent
            sent = True
            await on_delta(piece)

        return await self.run("stream", lambda: request(tracked), may_retry=lambda: not sent)


# -- output helpers every client shares -------------------------------------


def parse_json(text: str) -> Any:
    """The JSON value in ``text`` (:func:`~orchestrator.models.json_answer.json_answer`), or None
    when it has none."""
    try:
        return json_answer(text)
    except ValueError:
        return None


def schema_instruction(schema: dict[str, Any]) -> str:
    """The instruction added to the prompt where the backend cannot enforce ``schema`` itself."""
    return (
        "Answer with only a JSON value (no prose, no code fences) that is valid for this JSON schema:\n"
        + json.dumps(schema, separators=(",", ":"))
    )


__all__ = [
    "CallPolicy",
    "Classifier",
    "connection_error",
    "parse_json",
    "schema_instruction",
    "status_error",
    "status_is_transient",
]
