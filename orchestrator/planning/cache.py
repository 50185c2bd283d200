"""The second planning tier: plans of earlier successful runs, reused as templates.

A plan made by the planner references the run's inputs by name (``$input.document``), so it
fits any later request that asks the same thing of inputs with the same names and types. An
entry is keyed by exactly that, and never by content:

- the request's canonical keywords (:func:`~orchestrator.planning.keywords.keywords` of the
  request part only: never the payload after ``triage this:``, never an input's value);
- the input names and their value types;
- the catalog version (a digest of every agent's name and schemas): a changed catalog reaches
  other keys, so its old entries are never read again and expire.

Lookup is exact on the key; :meth:`~orchestrator.planning.TaskPlanning.decide` then tries a
guarded near match among the entries of the same :attr:`PlanKey.family` (same inputs and
catalog). A look-alike request that asks for another output, document type or language has
another intent word and never matches. :class:`MemoryPlanCache` holds entries in this process (LRU, size cap);
:class:`RedisPlanCache` shares them between workers, under the key prefix, with a TTL and a
size cap.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.planning.keywords import keywords
from orchestrator.specialist import AgentInfo

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from orchestrator.keys import KeySpace

__all__ = ["CacheEntry", "MemoryPlanCache", "PlanCache", "PlanKey", "RedisPlanCache", "catalog_version",
           "family_of", "plan_key"]


@dataclass(frozen=True, slots=True)
class PlanKey:
    """What a cached plan is found by (all of it safe to store and show)."""

    key: str
    keywords: tuple[str, ...]
    inputs: tuple[tuple[str, str], ...]
    catalog: str

    @property
    def family(self) -> str:
        """What every entry this request may reuse shares: input names and types, catalog version."""
        return family_of(self.inputs, self.catalog)


def family_of(inputs: Iterable[Iterable[str]], catalog: str) -> str:
    return hashlib.sha256(json.dumps([[list(p) for p in inputs], catalog]).encode()).hexdigest()[:16]


@dataclass
class CacheEntry:
    """A reusable plan with its key parts and use counts."""

    key: str
    keywords: list[str]
    inputs: list[list[str]]
    catalog: str
    plan: dict[str, Any]
    created_at: float = field(default_factory=time.time)
    hits: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> CacheEntry:
        return cls(**json.loads(raw))

    @property
    def family(self) -> str:
        return family_of(self.inputs, self.catalog)

    @classmethod
    def make(cls, key: PlanKey, plan: Mapping[str, Any]) -> CacheEntry:
        return cls(key.key, list(key.keywords), [list(p) for p in key.inputs], key.catalog, dict(plan))


def catalog_version(catalog: Iterable[AgentInfo]) -> str:
    """A short digest of the agents a plan may use (names, kinds and schemas)."""
    data = [[a.name, a.kind, a.input_schema, a.output_schema] for a in sorted(catalog, key=lambda a: a.name)]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]


def plan_key(request: str, inputs: Mapping[str, Any], catalog: str) -> PlanKey:
    """The cache key of a request over ``inputs`` (their names and types, never their values)."""
    words = tuple(sorted(keywords(request)))
    types = tuple(sorted((name, type(value).__name__) for name, value in inputs.items()))
    digest = hashlib.sha256(json.dumps([words, types, catalog]).encode()).hexdigest()[:32]
    return PlanKey(digest, words, types, catalog)


class PlanCache(Protocol):
    """Where plan templates live."""

    async def get(self, key: str) -> CacheEntry | None: ...

    async def put(self, entry: CacheEntry) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def family(self, family: str) -> list[CacheEntry]:
        """The entries of one :attr:`PlanKey.family` (near-match candidates)."""
        ...

    async def entries(self) -> list[CacheEntry]: ...

    async def clear(self) -> int: ...


class MemoryPlanCache:
    """Plan templates in this process: least recently used go first past ``max_entries``."""

    def __init__(self, max_entries: int = 1000):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    async def get(self, key: str) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.hits += 1
            self._entries.move_to_end(key)
        return entry

    async def put(self, entry: CacheEntry) -> None:
        self._entries[entry.key] = entry
        self._entries.move_to_end(entry.key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def delete(self, key: str) -> bool:
        return self._entries.pop(key, None) is not None

    async def family(self, family: str) -> list[CacheEntry]:
        return [e for e in self._entries.values() if e.family == family]

    async def entries(self) -> list[CacheEntry]:
        return list(reversed(self._entries.values()))

    async def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        return count


class RedisPlanCache:
    """Plan templates on Redis, shared by every worker: one string per entry (with a TTL) and a
    sorted set of keys by last use, trimmed to ``max_entries``."""

    def __init__(self, client: aioredis.Redis, keys: KeySpace, *, ttl: int = 7 * 86400, max_entries: int = 1000):
        self.client, self.keys, self.ttl, self.max_entries = client, keys, ttl, max_entries

    async def get(self, key: str) -> CacheEntry | None:
        raw = await self.client.get(self.keys.plan(key))
        if raw is None:
            await self.client.zrem(self.keys.plans_index, key)
            return None
        entry = CacheEntry.from_json(raw)
        entry.hits += 1
        await self._write(entry)
        return entry

    async def put(self, entry: CacheEntry) -> None:
        await self._write(entry)
        extra = await self.client.zcard(self.keys.plans_index) - self.max_entries
        if extra > 0:
            popped: list[Any] = await self.client.zpopmin(self.keys.plans_index, extra)
            for name, _ in popped:
                await self.client.delete(self.keys.plan(_text(name)))

    async def _write(self, entry: CacheEntry) -> None:
        await self.client.set(self.keys.plan(entry.key), entry.to_json(), ex=self.ttl)
        await self.client.zadd(self.keys.plans_index, {entry.key: time.time()})
        await self.client.expire(self.keys.plans_index, self.ttl)
        await self.client.sadd(self.keys.plan_family(entry.family), entry.key)
        await self.client.expire(self.keys.plan_family(entry.family), self.ttl)

    async def family(self, family: str) -> list[CacheEntry]:
        """Members whose entry expired or was dropped leave the family set here."""
        found = []
        members: Any = await self.client.smembers(self.keys.plan_family(family))
        for name in sorted(_text(m) for m in members):
            raw = await self.client.get(self.keys.plan(name))
            if raw is None:
                await self.client.srem(self.keys.plan_family(family), name)
            else:
                found.append(CacheEntry.from_json(raw))
        return found

    async def delete(self, key: str) -> bool:
        await self.client.zrem(self.keys.plans_index, key)
        return bool(await self.client.delete(self.keys.plan(key)))

    async def entries(self) -> list[CacheEntry]:
        found = []
        names: list[Any] = await self.client.zrevrange(self.keys.plans_index, 0, -1)
        for name in names:
            raw = await self.client.get(self.keys.plan(_text(name)))
            if raw is not None:
                found.append(CacheEntry.from_json(raw))
        return found

    async def clear(self) -> int:
        removed = 0
        for entry in await self.entries():
            await self.client.delete(self.keys.plan_family(entry.family))
            removed += int(await self.client.delete(self.keys.plan(entry.key)))
        await self.client.delete(self.keys.plans_index)
        return removed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
