"""Replicas: one model served by several servers, called as one model.

A spec whose ``options.endpoints`` lists several servers (see
:mod:`orchestrator.models.endpoints`) becomes a :class:`ReplicatedModel`: one client per
endpoint, built from the same spec with that endpoint as its ``base_url`` (``openai``) or
``host`` (``ollama``). Each call:

1. goes to the replica with the fewest calls in flight among those up (ties: the one
   picked longest ago, so idle replicas take turns);
2. on a transient failure (connection refused or reset, timeout, 5xx, 429) takes that
   replica out for a backoff that doubles with each failure in a row (``options.
   replica_backoff`` seconds first, default 1, capped by ``options.replica_backoff_max``,
   default 30; calls under way on it when it failed count once) and tries the next one:
   replicas that are up first, then those out, soonest due first, each once per call; a
   streamed answer fails over only while no text went out;
3. a replica whose backoff has passed is tried again, and its first success puts it back;
4. a non-transient failure (a 4xx: the request's fault, not the server's) is raised at once;
5. when every replica failed, raises one :class:`ModelError` naming each endpoint's failure.

Replica clients do not retry themselves (``retries = 0``): another replica is the retry.
``concurrency`` still bounds each replica's client; the pool's limit for the model bounds
all of them together, so raise it with the number of replicas. Every change of a replica's
state is logged (``model.replica.down`` / ``model.replica.up``) and handed to the run whose
call saw it (:mod:`orchestrator.models.notices`: ``model.replica_down`` / ``model.replica_up``
events), and :meth:`ReplicatedModel.status` reports each replica (``orchestrator models
check`` probes each endpoint).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from orchestrator.errors import ConfigError, ModelError
from orchestrator.logging import get_logger
from orchestrator.models.base import Capabilities, Completion, Message, Model, TextDeltas, streaming_model
from orchestrator.models.endpoints import ENDPOINT_OPTION, endpoints
from orchestrator.models.notices import ReplicaChange, notify
from orchestrator.models.spec import ModelSpec, create_model

T = TypeVar("T")
log = get_logger(__name__)


class ReplicaStatus(BaseModel):
    """One replica as its model sees it now."""

    endpoint: str
    up: bool
    """Whether calls go to it (false while it is out after a failure)."""
    in_flight: int = 0
    calls: int = 0
    """Calls it answered."""
    failures: int = 0
    """Transient failures in a row (0 once it answers again)."""
    retry_in_s: float | None = None
    """Seconds until it is tried again, while it is out."""
    last_error: str | None = None


def replica_spec(spec: ModelSpec, endpoint: str) -> ModelSpec:
    """``spec`` for the one server at ``endpoint``: no ``endpoints``, no retries of its own."""
    options = {key: value for key, value in spec.options.items() if key != "endpoints"}
    options[ENDPOINT_OPTION[spec.scheme]] = endpoint
    return spec.model_copy(update={"options": options, "retries": 0})


@dataclass
class _Replica:
    endpoint: str
    client: Model
    in_flight: int = 0
    calls: int = 0
    failures: int = 0
    down_until: float = 0.0
    last_error: str | None = None
    picked: int = 0
    """When it was last picked for a call (a sequence number): ties go to the one picked longest ago."""


class ReplicatedModel:
    """A model whose calls spread over several servers of the same model (``options.endpoints``)."""

    def __init__(self, spec: ModelSpec, *, clock: Callable[[], float] = time.monotonic,
                 factory: Callable[[ModelSpec], Model] = create_model):
        urls = endpoints(spec.options)
        if not urls:
            raise ConfigError("a replicated model needs options.endpoints (a list of server URLs)", key=spec.name)
        self.spec = spec
        self.backoff = float(spec.options.get("replica_backoff", 1.0))
        self.backoff_max = float(spec.options.get("replica_backoff_max", 30.0))
        self._clock = clock
        self._replicas = [_Replica(url, factory(replica_spec(spec, url))) for url in urls]
        self._picks = 0

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def capabilities(self) -> Capabilities:
        return self._replicas[0].client.capabilities

    @property
    def endpoints(self) -> list[str]:
        return [replica.endpoint for replica in self._replicas]

    def status(self) -> list[ReplicaStatus]:
        """Each replica's state, in the configured order."""
        now = self._clock()
        return [ReplicaStatus(endpoint=r.endpoint, up=r.down_until <= now, in_flight=r.in_flight, calls=r.calls,
                              failures=r.failures, last_error=r.last_error,
                              retry_in_s=round(r.down_until - now, 3) if r.down_until > now else None)
                for r in self._replicas]

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        return await self._answer("chat", lambda client: client.complete(
            messages, schema=schema, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs))

    async def stream(
        self,
        messages: Sequence[Message],
        on_delta: TextDeltas,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """Stream from one replica; fails over to another only while no text went out."""
        sent = False

        async def tracked(piece: str) -> None:
            nonlocal sent
            sent = True
            await on_delta(piece)

        async def request(client: Model) -> Completion:
            streamer = streaming_model(client)
            if streamer is None:
                raise ModelError(self.ref, "this backend does not stream")
            return await streamer.stream(messages, tracked, max_tokens=max_tokens, temperature=temperature,
                                         logprobs=logprobs)

        return await self._answer("stream", request, may_fail_over=lambda: not sent)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors, _ = await self._call("embed", lambda client: client.embed(texts))
        return vectors

    async def aclose(self) -> None:
        for replica in self._replicas:
            await replica.client.aclose()

    def _order(self) -> list[_Replica]:
        """Replicas to try, best first: those up by fewest in flight (ties: picked longest ago),
        then those out, soonest due first."""
        now = self._clock()
        up = sorted((r for r in self._replicas if r.down_until <= now), key=lambda r: (r.in_flight, r.picked))
        out = sorted((r for r in self._replicas if r.down_until > now), key=lambda r: r.down_until)
        return up + out

    async def _answer(self, operation: str, request: Callable[[Model], Awaitable[Completion]],
                      may_fail_over: Callable[[], bool] | None = None) -> Completion:
        """:meth:`_call` for a completion, which then names the replica that answered."""
        completion, endpoint = await self._call(operation, request, may_fail_over)
        return completion.model_copy(update={"endpoint": endpoint})

    async def _call(self, operation: str, request: Callable[[Model], Awaitable[T]],
                    may_fail_over: Callable[[], bool] | None = None) -> tuple[T, str]:
        """``request`` on the best replica, failing over as the module says; returns its result and
        the endpoint that answered."""
        failed: list[str] = []
        for replica in self._order():
            self._picks += 1
            replica.picked = self._picks
            replica.in_flight += 1
            try:
                result = await request(replica.client)
            except ModelError as exc:
                if not exc.retryable:
                    raise
                if (change := self._take_out(replica, operation, exc)) is not None:
                    await notify(change)
                failed.append(f"{replica.endpoint}: {exc.reason}")
                if may_fail_over is not None and not may_fail_over():
                    raise
                continue
            finally:
                replica.in_flight -= 1
            if (change := self._answered(replica, operation)) is not None:
                await notify(change)
            return result, replica.endpoint
        raise ModelError(self.ref, f"every replica failed ({len(failed)}): " + "; ".join(failed), retryable=True)

    def _take_out(self, replica: _Replica, operation: str, exc: ModelError) -> ReplicaChange | None:
        """Take ``replica`` out after ``exc``; the change, or None when it was out already."""
        replica.last_error = exc.reason
        if replica.down_until > self._clock():
            return None  # already out: calls that were under way when it failed count once
        replica.failures += 1
        pause = min(self.backoff_max, self.backoff * 2 ** (replica.failures - 1))
        replica.down_until = self._clock() + pause
        log.warning("model.replica.down", model=self.ref, endpoint=replica.endpoint, operation=operation,
                    failures=replica.failures, retry_in_s=round(pause, 3), status=exc.status, reason=exc.reason)
        return ReplicaChange(self.ref, replica.endpoint, up=False, operation=operation, failures=replica.failures,
                             reason=exc.reason, retry_in_s=round(pause, 3))

    def _answered(self, replica: _Replica, operation: str) -> ReplicaChange | None:
        """Count ``replica``'s answer; the change when that puts it back, else None."""
        replica.calls += 1
        if not replica.failures:
            return None
        log.info("model.replica.up", model=self.ref, endpoint=replica.endpoint, after_failures=replica.failures)
        change = ReplicaChange(self.ref, replica.endpoint, up=True, operation=operation, failures=replica.failures)
        replica.failures = 0
        replica.down_until = 0.0
        replica.last_error = None
        return change


__all__ = ["ReplicaStatus", "ReplicatedModel", "replica_spec"]
