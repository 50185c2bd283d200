"""The labelled-example store: what specialists learn from, in memory or in Redis.

A :class:`LabelledExample` is one input of a specialist with the output it should have given,
and where that answer came from: a larger model of the cascade after an escalation
(``teacher``) or a person correcting a run (``feedback``). Examples are keyed by specialist and
by a hash of their input, so the same input is kept once and a correction replaces a teacher's
answer (feedback always wins over a model).

A :class:`StepTrace` is what a step read and answered, kept for a while (``trace_ttl``) so that
feedback on the step can become an example: run records hold outputs, not inputs.

Key layout in Redis (names from :class:`~orchestrator.keys.KeySpace`)::

    <prefix>:examples:<specialist>             hash    example id -> LabelledExample JSON
    <prefix>:examples:<specialist>:new         counter examples kept so far, every process (distill_every)
    <prefix>:examples:<specialist>:distilling  string  the distilling process's token (TTL: the lock's expiry)
    <prefix>:run:<id>:trace:<step id>          string  StepTrace JSON (TTL trace_ttl)

A fan-out's items are traced one by one, ``<step id>[<item>]`` (``classify[2]``, from 0), so
feedback on one item corrects that item's input.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any, Literal, Protocol, runtime_checkable

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

from orchestrator.keys import KeySpace
from orchestrator.redis.connection import redis_errors
from orchestrator.types import Sensitivity

Source = Literal["teacher", "feedback"]


def input_id(specialist: str, data: dict[str, Any]) -> str:
    """A stable id for one input of a specialist (canonical JSON, hashed)."""
    canonical = json.dumps([specialist, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


class AuditRecord(BaseModel):
    """What the local model answered to an audited input, and whether the teacher agreed."""

    local_output: dict[str, Any]
    local_model: str | None = None
    local_confidence: float | None = None
    agreed: bool
    rate: float
    """The audit rate the step was sampled at (weights the audited items when calibrating)."""


class LabelledExample(BaseModel):
    """One input of a specialist and the output it should have given."""

    specialist: str
    input: dict[str, Any]
    output: dict[str, Any]
    source: Source
    model: str | None = None
    """The model whose answer this is (None for feedback)."""
    run_id: str | None = None
    step_id: str | None = None
    sensitivity: Sensitivity | None = None
    audit: AuditRecord | None = None
    """Set when this teacher answer audited a local one (:mod:`~orchestrator.learning.audit`)."""
    ts: float = Field(default_factory=time.time)

    @property
    def id(self) -> str:
        return input_id(self.specialist, self.input)


class StepTrace(BaseModel):
    """What one step read and answered: the raw material of feedback."""

    run_id: str
    step_id: str
    specialist: str
    input: dict[str, Any]
    output: Any = None
    model: str | None = None
    local: bool = True
    confidence: float | None = None
    escalated: bool = False
    sensitivity: Sensitivity | None = None


@runtime_checkable
class ExampleStore(Protocol):
    """Where labelled examples and recent step traces live."""

    async def add(self, example: LabelledExample) -> bool:
        """Keep ``example``; False (and nothing changes) when a feedback example of that input exists
        and ``example`` is only a teacher's answer."""
        ...

    async def examples(self, specialist: str) -> list[LabelledExample]:
        """Every example of ``specialist``, oldest first."""
        ...

    async def count(self, specialist: str) -> int: ...

    async def remember(self, trace: StepTrace, ttl: int) -> None:
        """Keep ``trace`` for ``ttl`` seconds."""
        ...

    async def trace(self, run_id: str, step_id: str) -> StepTrace | None: ...

    async def count_new(self, specialist: str) -> int:
        """Count one newly kept example of ``specialist``: the running count over every process
        sharing this store (``distill_every`` distils when it reaches a multiple)."""
        ...

    async def lock_distill(self, specialist: str, ttl: int) -> str | None:
        """Take ``specialist``'s distillation lock for at most ``ttl`` seconds: a token for
        :meth:`unlock_distill`, or None while another distillation holds it."""
        ...

    async def unlock_distill(self, specialist: str, token: str) -> None:
        """Release the lock if ``token`` still holds it (an expired lock another took is left alone)."""
        ...

    async def aclose(self) -> None: ...


def _keeps(existing: LabelledExample | None, new: LabelledExample) -> bool:
    """Whether ``new`` should replace ``existing``: feedback is never overwritten by a teacher."""
    return existing is None or not (existing.source == "feedback" and new.source == "teacher")


class MemoryExampleStore:
    """Examples and traces in dictionaries, for one process."""

    def __init__(self) -> None:
        self._examples: dict[str, dict[str, LabelledExample]] = {}
        self._traces: dict[tuple[str, str], tuple[float, StepTrace]] = {}
        self._new: dict[str, int] = {}
        self._locks: dict[str, tuple[float, str]] = {}

    async def add(self, example: LabelledExample) -> bool:
        mine = self._examples.setdefault(example.specialist, {})
        if not _keeps(mine.get(example.id), example):
            return False
        mine.pop(example.id, None)
        mine[example.id] = example.model_copy(deep=True)
        return True

    async def examples(self, specialist: str) -> list[LabelledExample]:
        return [e.model_copy(deep=True) for e in self._examples.get(specialist, {}).values()]

    async def count(self, specialist: str) -> int:
        return len(self._examples.get(specialist, {}))

    async def remember(self, trace: StepTrace, ttl: int) -> None:
        self._traces[(trace.run_id, trace.step_id)] = (time.monotonic() + ttl, trace.model_copy(deep=True))

    async def trace(self, run_id: str, step_id: str) -> StepTrace | None:
        found = self._traces.get((run_id, step_id))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1].model_copy(deep=True)

    async def count_new(self, specialist: str) -> int:
        self._new[specialist] = self._new.get(specialist, 0) + 1
        return self._new[specialist]

    async def lock_distill(self, specialist: str, ttl: int) -> str | None:
        held = self._locks.get(specialist)
        if held is not None and held[0] > time.monotonic():
            return None
        token = secrets.token_hex(8)
        self._locks[specialist] = (time.monotonic() + ttl, token)
        return token

    async def unlock_distill(self, specialist: str, token: str) -> None:
        held = self._locks.get(specialist)
        if held is not None and held[1] == token:
            del self._locks[specialist]

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisExampleStore:
    """Examples and traces in Redis under the deployment's key prefix (one key per command:
    works on Redis Cluster). ``client`` is borrowed."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace) -> None:
        self.client = client
        self.keys = keys

    async def add(self, example: LabelledExample) -> bool:
        key = self.keys.examples(example.specialist)
        with redis_errors(self.client):
            raw = await self.client.hget(key, example.id)
            existing = None if raw is None else LabelledExample.model_validate_json(raw)
            if not _keeps(existing, example):
                return False
            await self.client.hset(key, example.id, example.model_dump_json())
        return True

    async def examples(self, specialist: str) -> list[LabelledExample]:
        with redis_errors(self.client):
            raw = await self.client.hvals(self.keys.examples(specialist))
        found = [LabelledExample.model_validate_json(item) for item in raw]
        return sorted(found, key=lambda e: e.ts)

    async def count(self, specialist: str) -> int:
        with redis_errors(self.client):
            return int(await self.client.hlen(self.keys.examples(specialist)))

    async def remember(self, trace: StepTrace, ttl: int) -> None:
        with redis_errors(self.client):
            await self.client.set(self.keys.step_trace(trace.run_id, trace.step_id), trace.model_dump_json(), ex=ttl)

    async def trace(self, run_id: str, step_id: str) -> StepTrace | None:
        with redis_errors(self.client):
            raw = await self.client.get(self.keys.step_trace(run_id, step_id))
        return None if raw is None else StepTrace.model_validate_json(raw)

    async def count_new(self, specialist: str) -> int:
        with redis_errors(self.client):
            return int(await self.client.incr(self.keys.examples_new(specialist)))

    async def lock_distill(self, specialist: str, ttl: int) -> str | None:
        token = secrets.token_hex(8)
        with redis_errors(self.client):
            taken = await self.client.set(self.keys.distill_lock(specialist), token, nx=True, ex=ttl)
        return token if taken else None

    async def unlock_distill(self, specialist: str, token: str) -> None:
        with redis_errors(self.client):
            await self.client.eval(_RELEASE, 1, self.keys.distill_lock(specialist), token)

    async def aclose(self) -> None:
        """The client is borrowed: its owner closes it."""


_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"""
"""Delete the lock only if the caller's token still holds it."""


__all__ = ["AuditRecord", "ExampleStore", "LabelledExample", "MemoryExampleStore", "RedisExampleStore", "Source",
           "StepTrace", "input_id"]
