"""CallPolicy: guard, concurrency limit, timeout, retries with backoff, error mapping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.errors import ModelError, ModelRequestBlocked, ModelTimeout
from orchestrator.models import guard
from orchestrator.models._resilience import (
    CallPolicy,
    parse_json,
    status_error,
    status_is_transient,
)
from orchestrator.models.spec import ModelSpec

pytestmark = pytest.mark.allow_model_requests


class BackendDown(Exception):
    """Stands in for a backend library's own exception."""


def classify(exc: Exception) -> ModelError | None:
    if isinstance(exc, BackendDown):
        return ModelError("test:model", "backend down", retryable=True, status=503)
    return None


def policy(**spec: Any) -> CallPolicy:
    options = {"retry_backoff": 0.001, **spec.pop("options", {})}
    return CallPolicy(ModelSpec(ref="test:model", options=options, **spec), classify)


class Flaky:
    """Fails with the given exceptions, then answers."""

    def __init__(self, *failures: Exception, delay: float = 0.0):
        self.failures = list(failures)
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> str:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


async def test_transient_failures_are_retried_until_success() -> None:
    request = Flaky(BackendDown(), BackendDown())

    result, latency_ms = await policy(retries=2).run("chat", request)

    assert result == "answer" and request.calls == 3 and latency_ms > 0


async def test_retries_are_bounded() -> None:
    request = Flaky(BackendDown(), BackendDown(), BackendDown())

    with pytest.raises(ModelError) as caught:
        await policy(retries=1).run("chat", request)

    assert caught.value.status == 503 and request.calls == 2
    assert isinstance(caught.value.__cause__, BackendDown)


async def test_client_errors_are_never_retried() -> None:
    request = Flaky(ModelError("test:model", "HTTP 400: bad", status=400))

    with pytest.raises(ModelError, match="HTTP 400"):
        await policy(retries=5).run("chat", request)
    assert request.calls == 1


async def test_unknown_exceptions_are_wrapped_and_not_retried() -> None:
    request = Flaky(KeyError("choices"))

    with pytest.raises(ModelError, match="unexpected KeyError") as caught:
        await policy(retries=5).run("chat", request)
    assert request.calls == 1 and not caught.value.retryable


async def test_each_attempt_has_the_spec_timeout() -> None:
    request = Flaky(delay=1.0)

    with pytest.raises(ModelTimeout) as caught:
        await policy(timeout=0.05, retries=2).run("chat", request)

    assert request.calls == 3 and caught.value.seconds == 0.05 and caught.value.retryable


async def test_concurrency_is_limited_per_model() -> None:
    running = peak = 0

    async def request() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    limited = policy(concurrency=2)
    await asyncio.gather(*(limited.run("chat", request) for _ in range(8)))

    assert peak == 2


async def test_blocked_requests_never_reach_the_backend() -> None:
    request = Flaky()

    with guard.model_requests(allowed=False), pytest.raises(ModelRequestBlocked):
        await policy().run("chat", request)
    assert request.calls == 0


def test_backoff_grows_exponentially_with_jitter_under_a_cap() -> None:
    backoff = policy(options={"retry_backoff": 0.5, "retry_backoff_max": 3.0})

    for _ in range(50):
        assert 0.25 <= backoff.delay(1) <= 0.5
        assert 1.0 <= backoff.delay(3) <= 2.0
        assert 1.5 <= backoff.delay(10) <= 3.0


@pytest.mark.parametrize(("status", "transient"), [(500, True), (503, True), (429, True), (408, True),
                                                   (400, False), (401, False), (404, False), (422, False)])
def test_which_statuses_are_transient(status: int, transient: bool) -> None:
    assert status_is_transient(status) is transient
    assert status_error("m", status, "x").retryable is transient


def test_parse_json_accepts_fences_and_rejects_prose() -> None:
    assert parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json(' [1, 2] ') == [1, 2]
    assert parse_json("Sure! Here it is") is None
