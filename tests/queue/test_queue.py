"""The client side of the queue: submit, status, result, cancel, list, events, handles."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import ConfigError, IdempotencyConflict, JobError, UserError
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings
from orchestrator.settings import Settings
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


async def test_idempotency_key_reused_for_other_work_is_a_conflict(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    job_id = await queue.submit("steps", {"a": 1, "b": [1, 2]}, idempotency_key="order-7")
    # the same work (key order does not matter) is the same job
    assert await queue.submit("steps", {"b": [1, 2], "a": 1}, idempotency_key="order-7") == job_id
    for target, inputs, sensitivity in (("steps", {"a": 2, "b": [1, 2]}, None), ("other", {"a": 1, "b": [1, 2]}, None),
                                        ("steps", {"a": 1, "b": [1, 2]}, {"a": Sensitivity.CONFIDENTIAL})):
        with pytest.raises(IdempotencyConflict, match=f"'order-7' was already used for job {job_id}") as caught:
            await queue.submit(target, inputs, sensitivity=sensitivity, idempotency_key="order-7")
        assert isinstance(caught.value, UserError) and caught.value.job_id == job_id
    assert await redis_client.xlen(keyspace.jobs_stream) == 1
    # a key stored by an earlier version (the job id alone) still deduplicates
    await redis_client.set(keyspace.job_idempotency("legacy"), job_id)
    assert await queue.submit("anything", idempotency_key="legacy") == job_id


async def test_dead_letter_stream_keeps_the_newest(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    queue = JobQueue(redis_client, keyspace, QueueSettings(dead_letters_maxlen=2, result_ttl=600))
    ids = [await queue.submit("steps", {"n": i}) for i in range(3)]
    for delivery in await queue.worker_read("c", 3, 100):
        job = await queue.worker_start(delivery, "c")
        assert job is not None
        done = await queue.worker_finish(job, delivery, "failed", f"broke {job.id}", dead_letter=True)
        assert (done.status, done.dead_lettered, done.error) == ("failed", True, f"broke {job.id}")
    assert [d["job"] for d in await queue.dead_letters()] == ids[:0:-1]
    await queue.aclose()


async def test_a_record_without_the_dead_lettered_field_is_rewritten(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    job_id = await queue.submit("steps", {"n": 1})
    record = (await queue.status(job_id)).model_dump(mode="json")
    del record["dead_lettered"]  # as written before the field existed
    await redis_client.set(keyspace.job(job_id), json.dumps(record))
    [delivery] = await queue.worker_read("c", 1, 100)
    job = await queue.worker_start(delivery, "c")
    assert job is not None and (job.status, job.attempts, job.dead_lettered) == ("running", 1, False)


async def test_from_settings_needs_redis_and_uses_the_deployment(redis_url: str, keyspace: KeySpace) -> None:
    with pytest.raises(ConfigError, match="the job queue needs Redis; set REDIS_URL"):
        JobQueue.from_settings(Settings(redis_url=None))
    settings = Settings(redis_url=redis_url, key_prefix=keyspace.prefix, queue={"max_attempts": 5},
                        redis={"connect_timeout": 0.5, "socket_timeout": 3})
    queue = JobQueue.from_settings(settings, shutdown_grace=1.0)
    try:
        assert (queue.keys, queue.settings.max_attempts, queue.settings.shutdown_grace) == (keyspace, 5, 1.0)
        kwargs = queue.client.connection_pool.connection_kwargs
        assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.5, 3)
        handle = queue.handle(await queue.submit("steps"))
        assert (await handle.status()).status == "queued"
        assert (await handle.cancel()).status == "cancelled"
        assert [e.type async for _, e in handle.events(timeout=5)] == ["run.failed"]
        with pytest.raises(JobError, match="cancelled before it started"):
            await handle.result(timeout=5)
    finally:
        async for key in queue.client.scan_iter(match=keyspace.pattern):
            await queue.client.delete(key)
        await queue.aclose()


async def test_wait_for_many_jobs_with_one_waiter(queue: JobQueue, redis_client: aioredis.Redis,
                                                  keyspace: KeySpace) -> None:
    ids = [await queue.submit("steps", {"n": i}) for i in range(5)]
    with pytest.raises(JobError, match=r"not finished within 0.2s \(5 of 5 unfinished\)"):
        await queue.wait(ids, timeout=0.2)
    with pytest.raises(JobError, match="job nope: unknown job"):
        await queue.wait([*ids, "nope"], timeout=5)
    # one worker round: start all five with one call, finish them together with another
    deliveries = await queue.worker_read("c", 5, 100)
    jobs = await queue.worker_start_many(deliveries, "c")
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keyspace.jobs_done)
    waiter = asyncio.create_task(queue.wait(ids[::-1], timeout=20))
    await asyncio.sleep(0.2)
    finished = await asyncio.gather(*(queue.worker_finish(job, d, "completed", run=RunResult(run_id=d.job_id,
                                      status="completed", answer=i)) for i, (job, d) in enumerate(
                                          zip(jobs, deliveries, strict=True)) if job is not None))
    assert [job.id for job in await waiter] == ids[::-1] and all(j.status == "completed" for j in finished)
    messages = []
    for _ in range(5):  # the subscribe confirmation, then what was published (bounded)
        message = await pubsub.get_message(timeout=0.2)
        if message is not None and message["type"] == "message":
            messages.append(message["data"].decode())
    await pubsub.aclose()
    assert messages == [" ".join(ids)]  # the five ended with one script call: one announcement
    assert [r.answer for r in await asyncio.gather(*(queue.result(i) for i in ids))] == list(range(5))


async def test_a_resent_submit_or_start_counts_once(queue: JobQueue, redis_client: aioredis.Redis,
                                                    keyspace: KeySpace, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client resends a command whose connection broke after Redis ran it: same job id, same
    worker, same instant. The scripts see it is the same call and do it once."""
    import orchestrator.queue.client as queue_module

    same = uuid.UUID(int=7)
    monkeypatch.setattr(queue_module.uuid, "uuid4", lambda: same)
    job_id = await queue.submit("steps")
    assert await queue.submit("steps") == job_id  # the same call once more
    [first] = await queue.worker_read("w1", 10, 100)
    assert await redis_client.xlen(keyspace.jobs_stream) == 1
    monkeypatch.setattr(queue_module.time, "time", lambda: 1_700_000_000.0)
    started = await queue.worker_start(first, "w1")
    again = await queue.worker_start(first, "w1")
    assert started is not None and again is not None
    assert started.attempts == again.attempts == 1
    monkeypatch.setattr(queue_module.time, "time", lambda: 1_700_000_100.0)
    later = await queue.worker_start(first, "w1")  # a real new attempt (e.g. after a reclaim) still counts
    assert later is not None and later.attempts == 2
