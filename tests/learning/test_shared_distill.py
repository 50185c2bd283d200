"""Automatic distillation counts examples in the store: workers on one Redis together distil once
every ``distill_every`` new examples, and a lock keeps two distillations from running at once."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.engine.app import Orchestrator
from orchestrator.keys import KeySpace
from orchestrator.learning import DistillBusy, MemoryExampleStore, RedisExampleStore, Versions
from orchestrator.learning.distill import distilling
from orchestrator.learning.examples import ExampleStore
from orchestrator.models import FunctionModel, ModelCall
from tests.learning.deployment import CLASSIFY, TEXTS, all_texts, deployment, gold

MIXED = [text for pair in zip(TEXTS["billing"], TEXTS["shipping"], strict=True) for text in pair]
"""The texts with the labels alternating: any two in a row are a fittable head."""


def answer(call: ModelCall) -> dict[str, str]:
    return {"label": next(gold(t) for t in all_texts() if t in call.last_user)}


def worker(tmp_path: Path, redis_url: str, keyspace: KeySpace, **learning: object) -> Orchestrator:
    """One worker of a deployment: the Redis and the versions folder are the deployment's, shared."""
    return deployment(tmp_path, big=FunctionModel(answer, ref="scripted:big", local=False), redis_url=redis_url,
                      key_prefix=keyspace.prefix, **learning)


async def test_two_workers_distil_once_every_n_examples_between_them(tmp_path: Path, redis_url: str,
                                                                     keyspace: KeySpace,
                                                                     redis_client: aioredis.Redis) -> None:
    workers = [worker(tmp_path, redis_url, keyspace, distill_every=4) for _ in range(2)]
    versions = Versions(tmp_path / "versions", "classifier")
    runs = [await workers[position % 2].run(CLASSIFY, {"text": text})  # 2 new examples each: neither
            for position, text in enumerate(MIXED[:4])]                  # alone reaches 4
    for w in workers:
        await w.learning.collector.drain()
    assert len(versions.list()) == 1 and versions.current() == "v0001"
    assert int(await redis_client.get(keyspace.examples_new("classifier")) or 0) == 4
    for position, run in enumerate(runs[:3]):  # feedback, on the other worker: 3 more, 7 in all
        await workers[(position + 1) % 2].feedback(run.run_id, "c", {"label": gold(MIXED[position])})
    for w in workers:
        await w.learning.collector.drain()
    assert len(versions.list()) == 1
    await workers[0].feedback(runs[3].run_id, "c", {"label": gold(MIXED[3])})  # the 8th
    await workers[0].learning.collector.drain()
    assert [v.version for v in versions.list()] == ["v0001", "v0002"]
    assert await redis_client.exists(keyspace.distill_lock("classifier")) == 0  # released after each
    for w in workers:
        await w.aclose()


async def test_a_distillation_under_way_makes_another_wait_its_turn(tmp_path: Path, redis_url: str,
                                                                    keyspace: KeySpace,
                                                                    redis_client: aioredis.Redis) -> None:
    workers = [worker(tmp_path, redis_url, keyspace) for _ in range(2)]
    for text in all_texts():
        await workers[0].run(CLASSIFY, {"text": text})
    for w in workers:  # connected: each distillation's first await is its lock request
        await w.learning.store.count("classifier")
    results = await asyncio.gather(*(w.distill("classifier") for w in workers), return_exceptions=True)
    busy = [r for r in results if isinstance(r, DistillBusy)]
    assert len(busy) == 1 and "another process is distilling classifier" in str(busy[0])
    assert len(Versions(tmp_path / "versions", "classifier").list()) == 1
    assert (await workers[1].distill("classifier")).version.version == "v0002"  # the lock was released
    store = workers[0].learning.store
    token = await store.lock_distill("classifier", 60)
    assert token is not None and await redis_client.ttl(keyspace.distill_lock("classifier")) > 0  # it expires
    with pytest.raises(DistillBusy):
        await workers[1].distill("classifier")
    await store.unlock_distill("classifier", "not-the-token")  # only the holder releases it
    assert await store.lock_distill("classifier", 60) is None
    await store.unlock_distill("classifier", token)
    assert (await workers[1].distill("classifier")).version.version == "v0003"
    for w in workers:
        await w.aclose()


async def _counter_and_lock(store: ExampleStore) -> None:
    assert [await store.count_new("a") for _ in range(3)] == [1, 2, 3]
    assert await store.count_new("b") == 1  # per specialist
    token = await store.lock_distill("a", 60)
    assert token is not None and await store.lock_distill("a", 60) is None
    assert await store.lock_distill("b", 60) is not None  # per specialist
    await store.unlock_distill("a", token)
    assert await store.lock_distill("a", 60) is not None


async def test_the_counter_and_lock_of_both_stores(keyspace: KeySpace, redis_client: aioredis.Redis) -> None:
    await _counter_and_lock(MemoryExampleStore())
    await _counter_and_lock(RedisExampleStore(redis_client, keyspace))


async def test_an_automatic_distillation_is_skipped_while_another_holds_the_lock(
        tmp_path: Path, redis_url: str, keyspace: KeySpace, redis_client: aioredis.Redis) -> None:
    orch = worker(tmp_path, redis_url, keyspace, distill_every=2)
    token = await orch.learning.store.lock_distill("classifier", 60)  # "another process" is distilling
    assert token is not None
    for text in MIXED[:2]:
        await orch.run(CLASSIFY, {"text": text})
    await orch.learning.collector.drain()
    assert Versions(tmp_path / "versions", "classifier").list() == []  # skipped, not failed, not queued
    assert await redis_client.get(keyspace.distill_lock("classifier")) == token.encode()  # ours, untouched
    await orch.learning.store.unlock_distill("classifier", token)
    for text in MIXED[2:4]:
        await orch.run(CLASSIFY, {"text": text})
    await orch.learning.collector.drain()
    assert [v.version for v in Versions(tmp_path / "versions", "classifier").list()] == ["v0001"]
    await orch.aclose()


async def test_a_lock_release_redis_cannot_answer_keeps_what_the_distillation_did(tmp_path: Path) -> None:
    """The lock expires by itself: a failed release must neither hide a finished distillation nor
    replace the error it raised (before: the release's StoreError did both)."""
    from orchestrator.redis.connection import connect
    from orchestrator.settings import RedisSettings
    from tests.reliability.test_redis_restart import RedisServer

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    data = tmp_path / "redis"
    data.mkdir()
    server = RedisServer(data)
    await server.start()
    client = connect(server.url, RedisSettings(connect_timeout=1.0, socket_timeout=1.0))
    store = RedisExampleStore(client, KeySpace("t-release"))
    try:
        async with distilling(store, "classifier", 60):
            await server.kill()  # Redis goes away while the distillation works
        await server.start()
        await client.set("probe", "1")  # connected again
        with pytest.raises(ValueError, match="the distillation's own failure"):
            async with distilling(store, "other", 60):
                await server.kill()
                raise ValueError("the distillation's own failure")
    finally:
        await server.stop()
        await client.aclose()
