"""The labelled-example store, in memory and in real Redis: one contract."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.learning import (
    AuditRecord,
    ExampleStore,
    LabelledExample,
    MemoryExampleStore,
    RedisExampleStore,
    StepTrace,
)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, keyspace: KeySpace,
                redis_client: aioredis.Redis) -> AsyncIterator[ExampleStore]:
    """Each contract test runs twice: in memory and on a real Redis under the test's prefix."""
    yield MemoryExampleStore() if request.param == "memory" else RedisExampleStore(redis_client, keyspace)


def example(text: str, label: str, source: str = "teacher") -> LabelledExample:
    return LabelledExample.model_validate({"specialist": "classifier", "input": {"text": text, "labels": []},
                                           "output": {"label": label}, "source": source, "run_id": "r1"})


async def test_examples_are_kept_once_per_input_and_feedback_wins(store: ExampleStore) -> None:
    assert await store.add(example("late parcel", "shipping"))
    assert await store.add(example("charged twice", "billing"))
    assert await store.add(example("late parcel", "billing", "feedback"))  # a correction replaces the teacher
    assert not await store.add(example("late parcel", "shipping"))        # ... and a teacher never undoes it
    kept = {e.input["text"]: (e.output["label"], e.source) for e in await store.examples("classifier")}
    assert kept == {"late parcel": ("billing", "feedback"), "charged twice": ("billing", "teacher")}
    assert await store.count("classifier") == 2
    assert await store.count("extractor") == 0 and await store.examples("extractor") == []


async def test_traces_are_found_by_run_and_step(store: ExampleStore) -> None:
    trace = StepTrace(run_id="r1", step_id="c", specialist="classifier", input={"text": "hi"},
                      output={"label": "billing"}, model="scripted:small", confidence=0.4)
    await store.remember(trace, ttl=60)
    found = await store.trace("r1", "c")
    assert found is not None and found.input == {"text": "hi"} and found.confidence == 0.4
    assert await store.trace("r1", "other") is None and await store.trace("r2", "c") is None


async def test_redis_keys_live_under_the_deployment_prefix(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    store = RedisExampleStore(redis_client, keyspace)
    await store.add(example("a", "b"))
    await store.remember(StepTrace(run_id="r:1", step_id="s", specialist="classifier", input={}), ttl=30)
    keys = sorted([k.decode() async for k in redis_client.scan_iter(match=keyspace.pattern)])
    assert keys == sorted([keyspace.examples("classifier"), keyspace.step_trace("r:1", "s")])
    assert all(k.startswith(keyspace.prefix + ":") for k in keys)
    assert 0 < await redis_client.ttl(keyspace.step_trace("r:1", "s")) <= 30


async def test_an_audit_record_survives_the_store(store: ExampleStore) -> None:
    record = AuditRecord(local_output={"label": "billing"}, local_model="scripted:small", local_confidence=0.8,
                         agreed=False, rate=0.05)
    await store.add(example("late parcel", "shipping").model_copy(update={"audit": record}))
    [kept] = await store.examples("classifier")
    assert kept.audit == record
