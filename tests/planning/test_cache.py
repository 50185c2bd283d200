"""The plan cache tier: hit, miss, catalog invalidation, fallback, the confidential-key rule, Redis."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.models import ScriptedModel
from orchestrator.planning import CacheEntry, RedisPlanCache, TaskPlanning
from tests.engine.agents import Sleep
from tests.planning.conftest import GOOD, deployment

TASK = "write a haiku about this text"
"""A request no workflow fits: the planner plans it, the cache keeps the plan."""
FAILING = {"goal": "fails", "steps": [{"id": "wait", "agent": "sleep", "params": {"fail": True}}]}


async def test_a_planned_run_is_cached_and_reused_without_a_planner_call() -> None:
    planner = ScriptedModel([GOOD], local=False)
    orch = deployment(planner)
    first = await orch.run(TASK, {"text": "autumn"})
    again = await orch.run("Please write me a haiku about this text", {"text": "winter"})  # same keywords
    assert (first.planned_by, again.planned_by) == ("planner", "cache")
    assert again.ok and again.answer == {"said": "WINTER"}  # the template ran on the new inputs
    assert len(planner.calls) == 1
    assert orch.planning.cache is not None
    [entry] = await orch.planning.cache.entries()
    assert entry.hits == 1 and "haiku" in entry.keywords and "autumn" not in json.dumps(entry.plan)


async def test_other_inputs_or_another_output_miss_the_cache() -> None:
    planner = ScriptedModel([GOOD, GOOD, GOOD], local=False)
    orch = deployment(planner)
    await orch.run(TASK, {"text": "autumn"})
    other_types = await orch.run(TASK, {"text": ["a", "list"]})  # the same input name, another type
    other_output = await orch.run("translate this text into French", {"text": "autumn"})
    assert other_types.planned_by == "planner" and other_output.planned_by == "planner"
    assert len(planner.calls) == 3


async def test_a_catalog_change_invalidates_the_entries() -> None:
    planner = ScriptedModel([GOOD, GOOD], local=False)
    orch = deployment(planner)
    await orch.run(TASK, {"text": "a"})

    class Slower(Sleep):
        name = "slower"

    orch.registry.add(Slower())
    result = await orch.run(TASK, {"text": "b"})
    assert result.planned_by == "planner" and len(planner.calls) == 2


async def test_a_failing_cached_plan_falls_back_to_the_planner_once_and_is_replaced() -> None:
    planner = ScriptedModel([GOOD], local=False)
    orch = deployment(planner)
    planning, cache = orch.planning, orch.planning.cache
    assert cache is not None
    key = planning.key(TASK, {"text": "x"})
    await cache.put(CacheEntry.make(key, FAILING))
    result = await orch.run(TASK, {"text": "hello"})
    assert result.ok and result.replanned and result.planned_by == "planner"
    assert len(planner.calls) == 1
    entry = await cache.get(key.key)
    assert entry is not None and entry.plan["goal"] == "say it"  # the planner's plan replaced it
    reused = await orch.run(TASK, {"text": "again"})
    assert reused.planned_by == "cache" and len(planner.calls) == 1


async def test_a_failing_cached_plan_without_a_planner_is_dropped() -> None:
    orch = deployment()
    cache = orch.planning.cache
    assert cache is not None
    key = orch.planning.key(TASK, {"text": "x"})
    await cache.put(CacheEntry.make(key, FAILING))
    result = await orch.run(TASK, {"text": "hello"})
    assert result.planned_by == "cache" and not result.ok
    assert await cache.get(key.key) is None


async def test_plans_holding_run_data_or_confidential_tasks_are_not_cached() -> None:
    secret = "ACCOUNT 4242-9911 of Jane Roe"
    literal = {"goal": "g", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": secret}}]}
    planner = ScriptedModel([literal, GOOD], local=True)
    orch = deployment(planner, local_planner=True)
    assert (await orch.run(TASK, {"text": secret})).ok
    confidential = await orch.run(TASK, {"text": "x"}, sensitivity={"task": "confidential"})
    assert confidential.ok and confidential.planned_by == "planner"
    assert orch.planning.cache is not None and await orch.planning.cache.entries() == []


async def test_cache_off_always_plans() -> None:
    planner = ScriptedModel([GOOD, GOOD], local=False)
    orch = deployment(planner, cache=False)
    await orch.run(TASK, {"text": "a"})
    assert (await orch.run(TASK, {"text": "b"})).planned_by == "planner"


async def test_redis_cache_shares_plans_under_the_prefix_with_ttl_and_cap(
        redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    secret = "CONFIDENTIAL-CUSTOMER-7788 Jane Roe, 12 Elm Street"
    planner = ScriptedModel([GOOD, GOOD, GOOD], local=False)
    writer, reader = deployment(planner), deployment(ScriptedModel([], local=False))
    for orch in (writer, reader):  # two workers on one Redis
        orch.planning = TaskPlanning(orch.settings, orch.registry, orch.pool,
                                     cache=RedisPlanCache(redis_client, keyspace, ttl=60, max_entries=2))
    await writer.run(TASK, {"text": secret}, sensitivity={"text": "confidential"})
    shared = await reader.run(TASK, {"text": "another text"})
    assert shared.planned_by == "cache" and shared.ok
    keys = [k.decode() async for k in redis_client.scan_iter(match=keyspace.pattern)]
    plan_keys = [k for k in keys if ":plans" in k]
    assert plan_keys and all(k.startswith(keyspace.prefix + ":") for k in plan_keys)
    entry_key = next(k for k in plan_keys if ":entry:" in k)
    assert 0 < await redis_client.ttl(entry_key) <= 60
    for key in plan_keys:  # the key parts and entries never hold confidential content
        kind = await redis_client.type(key)
        members: list[Any] = [await redis_client.get(key)] if kind == b"string" else \
            list(await redis_client.smembers(key)) if kind == b"set" else await redis_client.zrange(key, 0, -1)
        assert secret not in key and all(secret.encode() not in m for m in members)
    await writer.run("write a limerick about this text", {"text": "a"})
    await writer.run("write a sonnet about this text", {"text": "a"})
    cache = writer.planning.cache
    assert cache is not None
    assert len(await cache.entries()) == 2  # the size cap dropped the least recently used
    assert await cache.clear() == 2 and await cache.entries() == []


def test_plan_keys_share_one_slot_in_the_sharded_layout() -> None:
    assert KeySpace("p").plan("k1") == "p:plans:entry:k1" and KeySpace("p").plans_index == "p:plans:index"
    sharded = KeySpace("p", shards=3)
    assert sharded.plan("k1") == "p:{p:plans}:entry:k1" and sharded.plans_index == "p:{p:plans}:index"


async def test_a_paraphrase_with_the_same_intent_reuses_a_plan_and_another_language_does_not() -> None:
    planner = ScriptedModel([GOOD, GOOD], local=False)
    orch = deployment(planner)
    await orch.run("translate this text into French", {"text": "a"})
    near = await orch.run("translate this text into French, formally", {"text": "b"})  # not the same keywords
    other = await orch.run("translate this text into German", {"text": "c"})  # another target language
    assert near.planned_by == "cache" and near.ok
    assert other.planned_by == "planner" and len(planner.calls) == 2


async def test_near_matches_need_an_intent_word() -> None:
    planner = ScriptedModel([GOOD, GOOD], local=False)
    orch = deployment(planner)
    await orch.run(TASK, {"text": "a"})  # "write a haiku about this text": no intent word
    assert (await orch.run("a haiku about this text, nicely", {"text": "b"})).planned_by == "planner"


async def test_near_matches_on_redis_find_the_family_and_forget_expired_members(
        redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    writer, reader = deployment(ScriptedModel([GOOD], local=False)), deployment(ScriptedModel([GOOD], local=False))
    for orch in (writer, reader):
        orch.planning = TaskPlanning(orch.settings, orch.registry, orch.pool,
                                     cache=RedisPlanCache(redis_client, keyspace, ttl=60))
    await writer.run("translate this text into French", {"text": "a"})
    near = await reader.run("translate this text into French, formally", {"text": "b"})
    assert near.planned_by == "cache"
    cache = reader.planning.cache
    assert isinstance(cache, RedisPlanCache)
    [entry] = await cache.entries()
    await redis_client.delete(keyspace.plan(entry.key))  # as if it expired
    assert await cache.family(entry.family) == []
    assert await redis_client.scard(keyspace.plan_family(entry.family)) == 0
