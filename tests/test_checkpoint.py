"""RedisCheckpointer: the LangGraph conformance suite, a real graph, TTLs and the key layout."""

from __future__ import annotations

import operator
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated, Any, TypedDict
from unittest.mock import AsyncMock

import pytest
import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.serde.types import ERROR
from langgraph.graph import END, START, StateGraph

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import ConfigError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.plan import Plan
from orchestrator.settings import Settings
from orchestrator.store.checkpoint import RedisCheckpointer
from tests.conftest import parametrize_topology
from tests.engine.agents import make_registry

TRICKY_THREAD = "tenant:a:{thread}*?[x]%3A"
"""A thread id with ':', hash-tag braces, glob characters and an escape-like sequence."""


_SINGLE_REDIS_ONLY = {"test_rejects_a_client_that_decodes_responses"}
"""Tests that build a plain client from ``redis_url`` themselves."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on one Redis and on the local Redis Cluster."""
    if metafunc.function.__name__ not in _SINGLE_REDIS_ONLY:
        parametrize_topology(metafunc)


@pytest.fixture
def saver(redis_client: aioredis.Redis, keyspace: KeySpace) -> RedisCheckpointer:
    return RedisCheckpointer(redis_client, keys=keyspace)


def _config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> RunnableConfig:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _checkpoint(**values: Any) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    checkpoint["channel_values"] = dict(values)
    checkpoint["channel_versions"] = dict.fromkeys(values, 1)
    return checkpoint


async def _put(
    saver: RedisCheckpointer, config: RunnableConfig, step: int = 0, **values: Any
) -> RunnableConfig:
    versions = dict.fromkeys(values, 1)
    return await saver.aput(config, _checkpoint(**values), {"source": "loop", "step": step}, versions)


async def _all(items: AsyncIterator[CheckpointTuple]) -> list[CheckpointTuple]:
    return [item async for item in items]


async def _thread_keys(client: aioredis.Redis, token: str) -> list[str]:
    """Every key in the database whose name contains ``token`` (any prefix)."""
    return sorted([key.decode() async for key in client.scan_iter(match=f"*{token}*", count=500)])


# -- the official conformance suite -------------------------------------------


async def test_passes_the_langgraph_conformance_suite(
    redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    @checkpointer_test(name="RedisCheckpointer")
    async def redis_checkpointer() -> AsyncIterator[RedisCheckpointer]:
        yield RedisCheckpointer(redis_client, keys=keyspace)

    report = await validate(redis_checkpointer)
    report.print_report()

    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    assert report.passed_all(), failures
    assert report.results["delete_thread"].passed is True
    assert sum(r.tests_passed for r in report.results.values()) >= 58


# -- a real graph ----------------------------------------------------------------


class _State(TypedDict):
    trail: Annotated[list[str], operator.add]


async def test_a_failed_graph_resumes_without_rerunning_finished_nodes(
    saver: RedisCheckpointer,
) -> None:
    calls: Counter[str] = Counter()

    async def first(state: _State) -> dict[str, list[str]]:
        calls["first"] += 1
        return {"trail": ["first"]}

    async def second(state: _State) -> dict[str, list[str]]:
        calls["second"] += 1
        if calls["second"] == 1:
            raise RuntimeError("transient failure")
        return {"trail": ["second"]}

    async def third(state: _State) -> dict[str, list[str]]:
        calls["third"] += 1
        return {"trail": ["third"]}

    builder = StateGraph(_State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_node("third", third)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", "third")
    builder.add_edge("third", END)
    graph = builder.compile(checkpointer=saver)
    config: RunnableConfig = {"configurable": {"thread_id": TRICKY_THREAD}}

    with pytest.raises(RuntimeError, match="transient failure"):
        await graph.ainvoke({"trail": []}, config)
    stopped = await graph.aget_state(config)
    assert stopped.next == ("second",)

    result = await graph.ainvoke(None, config)

    assert result == {"trail": ["first", "second", "third"]}
    assert calls == {"first": 1, "second": 2, "third": 1}
    assert (await graph.aget_state(config)).next == ()
    history = await _all(saver.alist(config))
    steps = [t.metadata["step"] for t in history]
    assert steps == sorted(steps, reverse=True)


# -- writes ----------------------------------------------------------------------


async def test_regular_writes_keep_the_first_value_special_writes_the_last(
    saver: RedisCheckpointer,
) -> None:
    stored = await _put(saver, _config("t"))

    await saver.aput_writes(stored, [("ch", "first"), (ERROR, "error 1")], "task")
    await saver.aput_writes(stored, [("ch", "second"), (ERROR, "error 2")], "task")

    found = await saver.aget_tuple(stored)
    assert found is not None
    assert sorted(found.pending_writes or []) == [
        ("task", ERROR, "error 2"),
        ("task", "ch", "first"),
    ]


async def test_pending_writes_come_in_task_path_order(saver: RedisCheckpointer) -> None:
    stored = await _put(saver, _config("t"))
    await saver.aput_writes(stored, [("ch", "b")], "task-1", task_path="~b")
    await saver.aput_writes(stored, [("ch", "a")], "task-2", task_path="~a")

    found = await saver.aget_tuple(stored)

    assert found is not None
    assert [w[2] for w in found.pending_writes or []] == ["a", "b"]


# -- keys, escaping, TTL, deletion --------------------------------------------------


async def test_thread_ids_and_namespaces_with_colons_stay_apart(saver: RedisCheckpointer) -> None:
    await _put(saver, _config("a:b", ns="c"), value="thread a:b, ns c")
    await _put(saver, _config("a", ns="b:c"), value="thread a, ns b:c")
    await _put(saver, _config("a:b:c"), value="thread a:b:c, root ns")

    for thread_id, ns, value in [
        ("a:b", "c", "thread a:b, ns c"),
        ("a", "b:c", "thread a, ns b:c"),
        ("a:b:c", "", "thread a:b:c, root ns"),
    ]:
        listed = await _all(saver.alist(_config(thread_id, ns=ns)))
        assert [t.checkpoint["channel_values"] for t in listed] == [{"value": value}]
        assert listed[0].config["configurable"]["thread_id"] == thread_id
        assert listed[0].config["configurable"]["checkpoint_ns"] == ns
    assert await saver.aget_tuple(_config("a", ns="b")) is None


async def test_every_key_sits_under_the_prefix(
    saver: RedisCheckpointer, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    token = uuid.uuid4().hex
    thread_id = f"{TRICKY_THREAD}-{token}"
    stored = await _put(saver, _config(thread_id, ns="child:1"), value=1)
    await saver.aput_writes(stored, [("ch", "v")], "task")

    keys = await _thread_keys(redis_client, token)

    assert keys == sorted(keyspace.checkpoint_thread_keys(thread_id))
    assert all(key.startswith(f"{keyspace.prefix}:checkpoint:{{") for key in keys)


async def test_ttl_applies_to_every_key_of_the_thread_and_is_refreshed_on_write(
    redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    saver = RedisCheckpointer(redis_client, keys=keyspace, ttl=timedelta(seconds=30))
    keys = keyspace.checkpoint_thread_keys(TRICKY_THREAD)
    stored = await _put(saver, _config(TRICKY_THREAD), value=1)
    await saver.aput_writes(stored, [("ch", "v")], "task")

    ttls = [await redis_client.pttl(key) for key in keys]
    assert all(25_000 < ttl <= 30_000 for ttl in ttls), ttls

    for key in keys:
        await redis_client.pexpire(key, 1_000)
    await _put(saver, _config(TRICKY_THREAD, checkpoint_id=stored["configurable"]["checkpoint_id"]))

    ttls = [await redis_client.pttl(key) for key in keys]
    assert all(25_000 < ttl <= 30_000 for ttl in ttls), ttls


async def test_without_ttl_keys_do_not_expire(
    saver: RedisCheckpointer, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    stored = await _put(saver, _config("t"), value=1)
    await saver.aput_writes(stored, [("ch", "v")], "task")

    assert [await redis_client.pttl(k) for k in keyspace.checkpoint_thread_keys("t")] == [-1, -1]


async def test_an_orchestrator_on_redis_checkpoints_with_the_configured_ttl(
    redis_url: str, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    plan = Plan.parse({"goal": "wait twice", "steps": [
        {"id": "a", "agent": "sleep", "inputs": {"value": 1}},
        {"id": "b", "agent": "sleep", "inputs": {"value": "$steps.a.value"}},
    ]})
    settings = Settings(redis_url=redis_url, key_prefix=keyspace.prefix, queue={"checkpoint_ttl": 3600})
    registry, _ = make_registry()
    async with Orchestrator(settings, registry=registry, models={}) as orch:
        result = await orch.run(plan, run_id="ttl-run")
    assert result.ok
    keys = keyspace.checkpoint_thread_keys("ttl-run")
    assert await redis_client.exists(*keys) == 2
    ttls = [await redis_client.ttl(key) for key in keys]
    assert all(3500 < ttl <= 3600 for ttl in ttls), ttls
    assert Settings(redis_url=None).queue.checkpoint_ttl == 7 * 24 * 3600  # the default: a week


async def test_an_unreachable_redis_raises_a_store_error(unused_tcp_port: int) -> None:
    async with RedisCheckpointer.from_url(f"redis://127.0.0.1:{unused_tcp_port}/0") as saver:
        for call in (saver.aget_tuple(_config("t")), _put(saver, _config("t"), value=1),
                     saver.adelete_thread("t"), _all(saver.alist(None))):
            with pytest.raises(StoreError, match=f"cannot reach Redis at redis://127.0.0.1:{unused_tcp_port}/0"):
                await call


async def test_delete_thread_removes_every_key_of_that_thread_only(
    saver: RedisCheckpointer, redis_client: aioredis.Redis
) -> None:
    token = uuid.uuid4().hex
    doomed, kept = f"doomed:{token}", f"kept:{token}"
    for thread_id in (doomed, kept):
        for ns in ("", "child:1"):
            stored = await _put(saver, _config(thread_id, ns=ns), value=thread_id)
            await saver.aput_writes(stored, [("ch", "v")], "task")

    await saver.adelete_thread(doomed)

    remaining = await _thread_keys(redis_client, token)
    assert remaining and all("kept" in key for key in remaining)
    assert await saver.aget_tuple(_config(doomed)) is None
    assert await saver.aget_tuple(_config(kept, ns="child:1")) is not None


# -- listing ----------------------------------------------------------------------


async def test_list_pages_through_long_histories_newest_first(saver: RedisCheckpointer) -> None:
    ids = []
    parent: RunnableConfig = _config("long")
    for step in range(230):
        parent = await _put(saver, parent, step=step)
        ids.append(parent["configurable"]["checkpoint_id"])

    listed = [t.checkpoint["id"] for t in await _all(saver.alist(_config("long")))]
    odd = await _all(saver.alist(_config("long"), filter={"step": 201}))
    cursor = _config("long", checkpoint_id=ids[150])
    before = await _all(saver.alist(_config("long"), before=cursor, limit=120))

    assert listed == ids[::-1]
    assert [t.metadata["step"] for t in odd] == [201]
    assert [t.checkpoint["id"] for t in before] == ids[149:29:-1]


async def test_list_without_config_covers_every_thread_and_namespace(
    saver: RedisCheckpointer,
) -> None:
    await _put(saver, _config(TRICKY_THREAD), value=1)
    await _put(saver, _config(TRICKY_THREAD, ns="child:1"), value=2)
    await _put(saver, _config("other"), value=3)

    everything = await _all(saver.alist(None))
    all_namespaces = await _all(saver.alist({"configurable": {"thread_id": TRICKY_THREAD}}))

    assert sorted(t.checkpoint["channel_values"]["value"] for t in everything) == [1, 2, 3]
    assert sorted(t.config["configurable"]["checkpoint_ns"] for t in all_namespaces) == ["", "child:1"]


async def test_list_without_config_escapes_glob_characters_in_the_prefix(
    redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    mine = RedisCheckpointer(redis_client, keys=KeySpace(prefix=f"{keyspace.prefix}:we*ird?[x]"))
    lookalike = RedisCheckpointer(redis_client, keys=KeySpace(prefix=f"{keyspace.prefix}:weXYird!x"))
    await _put(mine, _config(TRICKY_THREAD), value="mine")
    await _put(lookalike, _config("other"), value="lookalike")

    listed = await _all(mine.alist(None))

    assert [(t.config["configurable"]["thread_id"], t.checkpoint["channel_values"]) for t in listed] == [
        (TRICKY_THREAD, {"value": "mine"})
    ]


def test_index_key_names_give_back_their_thread_id(keyspace: KeySpace) -> None:
    for thread_id in (TRICKY_THREAD, "", "plain", "ünïcode/ü", "}{"):
        index_key = keyspace.checkpoint_index(thread_id)
        assert keyspace.checkpoint_thread_id(index_key) == thread_id
        assert index_key.count("{") == index_key.count("}") == 1
    with pytest.raises(ValueError, match="not a checkpoint index key"):
        keyspace.checkpoint_thread_id(keyspace.checkpoint_data("t"))


# -- construction -------------------------------------------------------------------


async def test_from_url_closes_its_own_client_but_not_a_borrowed_one(
    redis_url: str, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    async with RedisCheckpointer.from_url(redis_url, keys=keyspace) as owned:
        spy = AsyncMock(wraps=owned.client.aclose)
        owned.client.aclose = spy  # type: ignore[method-assign]
        await _put(owned, _config("t"), value=1)
    spy.assert_awaited_once()

    async with RedisCheckpointer(redis_client, keys=keyspace) as borrowed:
        assert await borrowed.aget_tuple(_config("t")) is not None
    assert await redis_client.ping()


async def test_rejects_a_client_that_decodes_responses(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ConfigError, match="decode_responses"):
            RedisCheckpointer(client)
    finally:
        await client.aclose()


async def test_the_sync_api_points_to_the_async_one(saver: RedisCheckpointer) -> None:
    with pytest.raises(NotImplementedError, match="aget_tuple"):
        saver.get_tuple(_config("t"))
    with pytest.raises(NotImplementedError, match="async"):
        saver.put(_config("t"), _checkpoint(), {}, {})


def test_next_versions_increase() -> None:
    saver = RedisCheckpointer(aioredis.Redis())
    versions = [saver.get_next_version(None, None)]
    for _ in range(12):
        versions.append(saver.get_next_version(versions[-1], None))
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
