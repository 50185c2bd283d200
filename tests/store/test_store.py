"""The store contract, run against both implementations (memory and real Redis)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import StoreError
from orchestrator.keys import KeySpace
from orchestrator.store import ChatMessage, MemoryStore, RedisStore, Store, create_store
from orchestrator.types import Event, RunResult

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, keyspace: KeySpace, redis_client: aioredis.Redis
) -> AsyncIterator[Store]:
    """Each contract test runs twice: on a MemoryStore and on a RedisStore (real server)."""
    if request.param == "memory":
        yield MemoryStore()
    else:
        yield RedisStore(redis_client, keyspace, events_maxlen=1000, events_ttl=600, run_ttl=600)


def _event(kind: str, run_id: str = "r1", step: str | None = None) -> Event:
    return Event(type=kind, run_id=run_id, step_id=step)  # type: ignore[arg-type]


async def _collect(it: AsyncIterator[tuple[str, Event]]) -> list[tuple[str, Event]]:
    return [item async for item in it]


def test_implementations_satisfy_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)
    assert isinstance(create_store(None, KeySpace("x")), MemoryStore)


async def test_run_record_round_trip(store: Store) -> None:
    assert await store.get_run("r1") is None
    await store.save_run(RunResult(run_id="r1", status="running"))
    await store.save_run(RunResult(run_id="r1", status="completed", answer={"label": "x"}))
    got = await store.get_run("r1")
    assert got is not None and got.status == "completed" and got.answer == {"label": "x"}


async def test_events_in_order_and_resumable(store: Store) -> None:
    for kind, step in [("run.started", None), ("step.started", "a"), ("step.finished", "a")]:
        await store.emit(_event(kind, step=step))
    await store.emit(_event("run.started", run_id="other"))
    items = await _collect(store.read_events("r1"))
    assert [e.type for _, e in items] == ["run.started", "step.started", "step.finished"]
    assert all(e.run_id == "r1" for _, e in items)
    rest = await _collect(store.read_events("r1", after=items[0][0]))
    assert [e.step_id for _, e in rest] == ["a", "a"]
    assert await _collect(store.read_events("r1", after=items[-1][0])) == []
    assert await _collect(store.read_events("missing")) == []


async def test_follow_waits_for_new_events_until_terminal(store: Store) -> None:
    await store.emit(_event("run.started"))

    async def produce() -> None:
        for step in ("a", "b"):
            await asyncio.sleep(0.05)
            await store.emit(_event("step.finished", step=step))
        await store.emit(_event("run.finished"))
        await store.emit(_event("step.started", step="after-the-end"))

    producer = asyncio.create_task(produce())
    items = await asyncio.wait_for(_collect(store.read_events("r1", follow=True, timeout=10)), 10)
    await producer
    assert [e.type for _, e in items] == ["run.started", "step.finished", "step.finished", "run.finished"]


async def test_follow_stops_at_timeout_without_terminal(store: Store) -> None:
    await store.emit(_event("run.started"))
    started = time.monotonic()
    items = await _collect(store.read_events("r1", follow=True, timeout=0.3))
    assert [e.type for _, e in items] == ["run.started"]
    assert 0.25 <= time.monotonic() - started < 3


async def test_conversation_history(store: Store) -> None:
    for i in range(5):
        await store.append_message("t1", ChatMessage(role="user" if i % 2 == 0 else "assistant",
                                                      content=f"m{i}", run_id=f"r{i}"))
    last = await store.history("t1", limit=3)
    assert [m.content for m in last] == ["m2", "m3", "m4"]
    assert last[0].run_id == "r2" and last[0].role == "user"
    assert len(await store.history("t1")) == 5
    assert await store.history("nobody") == []


async def test_redis_store_caps_conversations_and_sets_ttls(
    redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    store = RedisStore(redis_client, keyspace, events_ttl=100, run_ttl=200, max_messages=3)
    for i in range(5):
        await store.append_message("t", ChatMessage(role="user", content=str(i)))
    await store.save_run(RunResult(run_id="r", status="running"))
    await store.emit(_event("run.started", run_id="r"))
    assert [m.content for m in await store.history("t", limit=10)] == ["2", "3", "4"]
    assert 0 < await redis_client.ttl(keyspace.run("r")) <= 200
    assert 0 < await redis_client.ttl(keyspace.run_events("r")) <= 100
    assert 0 < await redis_client.ttl(keyspace.conversation("t")) <= 200


async def test_events_followed_live_from_another_process(
    redis_client: aioredis.Redis, keyspace: KeySpace, redis_url: str
) -> None:
    store = RedisStore(redis_client, keyspace)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.store.follow_events", redis_url, keyspace.prefix, "live", "20",
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"ready"
        await store.emit(_event("run.started", run_id="live"))
        for step in ("a", "b", "c"):
            await store.emit(_event("step.started", run_id="live", step=step))
            # the follower prints each event before the next one exists: it really is live
            line = await asyncio.wait_for(proc.stdout.readline(), 10)
            while line.startswith(b"run.started"):
                line = await asyncio.wait_for(proc.stdout.readline(), 10)
            assert line.split() == [b"step.started", step.encode()]
        await store.emit(_event("run.finished", run_id="live"))
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).split() == [b"run.finished", b"-"]
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_redis_raises_a_clear_store_error_fast() -> None:
    port = _free_port()
    store = create_store(f"redis://127.0.0.1:{port}/0", KeySpace("unreachable"))
    started = time.monotonic()
    try:
        with pytest.raises(StoreError, match=rf"cannot reach Redis at redis://127.0.0.1:{port}/0: .*REDIS_URL"):
            await store.save_run(RunResult(run_id="r", status="running"))
        with pytest.raises(StoreError):
            await _collect(store.read_events("r", follow=True, timeout=30))
        with pytest.raises(StoreError):
            await store.history("t")
    finally:
        await store.aclose()
    assert time.monotonic() - started < 5


async def test_a_connection_the_server_closed_is_replaced_on_the_next_call(
    redis_url: str, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    # what a Redis restart leaves in every client's pool: connections closed under it
    store = create_store(redis_url, keyspace, run_ttl=60)
    assert isinstance(store, RedisStore)
    try:
        saved = RunResult(run_id="r", status="running")
        await store.save_run(saved)
        await redis_client.client_kill_filter(_id=await store.client.client_id())
        assert await store.get_run("r") == saved
    finally:
        await store.aclose()
