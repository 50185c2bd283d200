"""Fencing: an attempt that lost its job (another worker took it over) can no longer write anything.

Each test sets up the issue-13 race with the lease transitions themselves: attempt 1 starts on
worker ``a``, its lease expires, worker ``b`` reclaims the entry and starts attempt 2; then the
stale attempt 1 tries to finish, retry, save its run, emit events and checkpoint.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from langgraph.checkpoint.base import empty_checkpoint

from orchestrator.errors import LeaseLost
from orchestrator.keys import KeySpace
from orchestrator.queue import Delivery, Job, JobQueue
from orchestrator.redis import fencing
from orchestrator.redis.connection import server as server_of
from orchestrator.store.checkpoint import RedisCheckpointer
from orchestrator.types import Event, RunResult
from tests.conftest import SHARDED, TOPOLOGIES, parametrize_topology


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On one Redis and on the local Redis Cluster (one queue shard, and three): on the cluster a
    fenced write is one script on the slot the job record shares with the run's keys."""
    parametrize_topology(metafunc, (*TOPOLOGIES, SHARDED))


async def _taken_over(queue: JobQueue) -> tuple[Job, Delivery, Job, Delivery]:
    """Attempt 1 on ``a``, then attempt 2 on ``b`` after ``a``'s lease expired (FAST: 1 s)."""
    job_id = await queue.submit("steps")
    [first] = await queue.worker_read("a", 1, 100)
    stale = await queue.worker_start(first, "a")
    await asyncio.sleep(queue.settings.visibility_timeout + 0.05)
    [taken] = await queue.worker_reclaim("b", 1)
    current = await queue.worker_start(taken, "b")
    assert stale is not None and current is not None and taken.job_id == job_id
    assert (stale.attempts, current.attempts) == (1, 2)
    return stale, first, current, taken


async def _pending(redis_client: aioredis.Redis, keyspace: KeySpace) -> list[tuple[str, str]]:
    entries: Any = await redis_client.xpending_range(keyspace.jobs_stream, keyspace.jobs_group, "-", "+", 10)
    return [(e["message_id"].decode(), e["consumer"].decode()) for e in entries]


async def test_a_stale_finish_leaves_the_entry_the_new_attempt_holds(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    """Issue 13, bug 1: the stale FINISH acknowledged and deleted b's entry; the job was lost."""
    stale, first, current, taken = await _taken_over(queue)
    with pytest.raises(LeaseLost, match="attempt 1 no longer owns the job"):
        await queue.worker_finish(stale, first, "completed",
                                  run=RunResult(run_id=stale.id, status="completed", answer="stale"))
    assert await _pending(redis_client, keyspace) == [(taken.message_id, "b")]
    assert await redis_client.xlen(keyspace.jobs_stream) == 1
    job = await queue.status(stale.id)
    assert (job.status, job.attempts, job.worker) == ("running", 2, "b")
    assert await queue.store.get_run(stale.id) is None  # the stale run record was not written
    with pytest.raises(LeaseLost):
        await queue.worker_retry(stale, first, "RuntimeError: stale")
    assert await _pending(redis_client, keyspace) == [(taken.message_id, "b")]
    await queue.worker_release(stale, "stale shutdown", first)
    assert (await queue.status(stale.id)).status == "running"
    # the owner finishes normally: recorded once, its entry acknowledged and deleted
    done = await queue.worker_finish(current, taken, "completed",
                                     run=RunResult(run_id=current.id, status="completed", answer="b"))
    assert (done.status, done.attempts) == ("completed", 2)
    assert await _pending(redis_client, keyspace) == [] and await redis_client.xlen(keyspace.jobs_stream) == 0
    assert (await queue.result(current.id)).answer == "b"


async def test_a_finish_sent_twice_is_recorded_once(queue: JobQueue, redis_client: aioredis.Redis,
                                                    keyspace: KeySpace) -> None:
    """A FINISH re-sent after a blip (Redis ran the first one, the reply was lost) is a no-op."""
    job_id = await queue.submit("steps")
    [delivery] = await queue.worker_read("a", 1, 100)
    job = await queue.worker_start(delivery, "a")
    assert job is not None
    run = RunResult(run_id=job_id, status="completed", answer=1)
    first = await queue.worker_finish(job, delivery, "completed", run=run)
    again = await queue.worker_finish(job, delivery, "completed", run=run)
    assert first == again and (again.status, again.attempts) == ("completed", 1)
    assert await redis_client.xlen(keyspace.jobs_stream) == 0


async def test_a_stale_attempts_writes_are_refused_and_the_owners_applied(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    """Issue 13, bug 2: run record, events and checkpoints of the stale attempt are never applied."""
    stale, _first, current, _taken = await _taken_over(queue)
    checkpointer = RedisCheckpointer(redis_client, keys=keyspace, ttl=timedelta(minutes=10))
    config: Any = {"configurable": {"thread_id": stale.run_id, "checkpoint_ns": ""}}
    server = await server_of(queue.client)

    async def writes(answer: str) -> list[str]:
        """Each write an attempt makes; the names of those refused."""
        refused = []
        for what, write in (
            ("run", queue.store.save_run(RunResult(run_id=stale.run_id, status="completed", answer=answer))),
            ("event", queue.store.emit(Event(type="run.finished", run_id=stale.run_id, data={"by": answer}))),
            ("checkpoint", checkpointer.aput(config, empty_checkpoint(), {}, {})),
            ("step writes", checkpointer.aput_writes(
                {"configurable": {**config["configurable"], "checkpoint_id": "c1"}}, [("x", answer)], "t1")),
        ):
            try:
                await write
            except LeaseLost as exc:
                assert (exc.job_id, exc.attempt) == (stale.id, 1 if answer == "stale" else 2)
                refused.append(what)
        return refused

    for attempt, answer in ((stale, "stale"), (current, "owner")):
        fence = fencing.Fence(attempt.id, keyspace.job(attempt.id), attempt.attempts, server)
        outcome = await fencing.run_fenced(fence, writes(answer))
        assert outcome == (["run", "event", "checkpoint", "step writes"] if answer == "stale" else [])
    run = await queue.store.get_run(stale.run_id)
    assert run is not None and run.answer == "owner"
    assert [e.data["by"] async for _, e in queue.store.read_events(stale.run_id)] == ["owner"]
    data_key, _ = keyspace.checkpoint_thread_keys(stale.run_id)
    kinds = sorted(k.decode().split(":")[0] for k in await redis_client.hkeys(data_key))
    assert kinds == ["c", "w"]  # the owner's checkpoint and step write; nothing of the stale attempt


async def test_writes_outside_an_attempt_are_not_fenced(queue: JobQueue) -> None:
    """``Orchestrator.run`` called directly (no queue) writes as before."""
    await queue.store.save_run(RunResult(run_id="direct", status="completed"))
    assert (await queue.store.get_run("direct")) is not None


async def test_the_fence_reads_the_records_own_state_not_its_inputs(queue: JobQueue, keyspace: KeySpace) -> None:
    tricky = {"a": 1, "status": "running", "attempts": 2, "error": None, "worker": None, "started_at": None,
              "finished_at": None, "dead_lettered": False}
    job_id = await queue.submit("steps", tricky)
    [delivery] = await queue.worker_read("a", 1, 100)
    job = await queue.worker_start(delivery, "a")
    assert job is not None and job.attempts == 1 and job.inputs == tricky
    server = await server_of(queue.client)
    forged = fencing.Fence(job_id, keyspace.job(job_id), 2, server)
    with pytest.raises(LeaseLost):
        await fencing.run_fenced(forged, queue.store.save_run(RunResult(run_id=job_id, status="completed")))
    assert await queue.store.get_run(job_id) is None
    owner = fencing.Fence(job_id, keyspace.job(job_id), 1, server)
    await fencing.run_fenced(owner, queue.store.save_run(RunResult(run_id=job_id, status="completed")))
    assert await queue.store.get_run(job_id) is not None
