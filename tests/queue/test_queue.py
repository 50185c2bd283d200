"""The client side of the queue: submit, status, result, cancel, list, events."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import JobError
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue
from orchestrator.types import Event, RunResult, Sensitivity


async def test_submit_records_a_queued_job(queue: JobQueue) -> None:
    job_id = await queue.submit("steps", {"steps": 2}, sensitivity={"doc": Sensitivity.CONFIDENTIAL})
    job = await queue.status(job_id)
    assert (job.id, job.run_id, job.status, job.attempts) == (job_id, job_id, "queued", 0)
    assert job.inputs == {"steps": 2} and job.sensitivity == {"doc": Sensitivity.CONFIDENTIAL}


async def test_same_idempotency_key_returns_the_same_job(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    ids = await asyncio.gather(*(queue.submit("steps", idempotency_key="order-42") for _ in range(5)))
    assert len(set(ids)) == 1
    assert await queue.submit("steps", idempotency_key="order-43") != ids[0]
    assert await redis_client.xlen(keyspace.jobs_stream) == 2


async def test_unknown_job_raises_job_error(queue: JobQueue) -> None:
    for call in (queue.status("nope"), queue.result("nope"), queue.cancel("nope")):
        with pytest.raises(JobError, match="job nope: unknown job"):
            await call
    with pytest.raises(JobError):
        [item async for item in queue.events("nope")]


async def test_cancel_a_queued_job_is_immediate(queue: JobQueue) -> None:
    job_id = await queue.submit("steps")
    job = await queue.cancel(job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    with pytest.raises(JobError, match="cancelled"):
        await queue.result(job_id)
    # followers of the job's events are not left waiting for a run that never starts
    events = [e async for _, e in queue.events(job_id, follow=True, timeout=5)]
    assert events[-1].type == "run.failed" and events[-1].data["status"] == "cancelled"
    assert (await queue.cancel(job_id)).status == "cancelled"


async def test_result_of_an_unfinished_job(queue: JobQueue) -> None:
    job_id = await queue.submit("steps")
    with pytest.raises(JobError, match="not finished yet"):
        await queue.result(job_id)
    with pytest.raises(JobError, match="not finished within"):
        await queue.result(job_id, wait=True, timeout=0.2)


async def test_list_newest_first_and_by_status(queue: JobQueue) -> None:
    ids = [await queue.submit("steps", {"n": i}) for i in range(4)]
    await queue.cancel(ids[1])
    assert [j.id for j in await queue.list()] == ids[::-1]
    assert [j.id for j in await queue.list(limit=2)] == ids[:1:-1]
    assert [j.id for j in await queue.list(status="cancelled")] == [ids[1]]
    assert await queue.list(status="running") == []


async def test_events_come_from_the_jobs_run(queue: JobQueue) -> None:
    job_id = await queue.submit("steps")
    await queue.store.emit(Event(type="run.started", run_id=job_id))
    await queue.store.emit(Event(type="run.finished", run_id=job_id))
    await queue.store.save_run(RunResult(run_id=job_id, status="completed"))
    assert [e.type async for _, e in queue.events(job_id)] == ["run.started", "run.finished"]
