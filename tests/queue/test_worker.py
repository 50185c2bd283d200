"""Workers in-process: outcomes, retries, dead letters, cancellation, reclaiming."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import JobError
from orchestrator.keys import KeySpace
from orchestrator.queue import Delivery, JobQueue, JobRunner
from orchestrator.types import RunResult
from tests.queue.app import StepRunner
from tests.queue.conftest import WorkerFactory


async def _until(status: str, queue: JobQueue, job_id: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while (await queue.status(job_id)).status != status:
        assert time.monotonic() < deadline, f"job {job_id} never became {status}"
        await asyncio.sleep(0.02)


def test_step_runner_is_a_job_runner(runner: StepRunner) -> None:
    assert isinstance(runner, JobRunner)


async def test_jobs_complete_with_results_and_events(
    queue: JobQueue, runner: StepRunner, running_worker: WorkerFactory,
    redis_client: aioredis.Redis, keyspace: KeySpace,
) -> None:
    ids = [await queue.submit("steps", {"steps": 2, "answer": i}) for i in range(6)]
    async with running_worker(concurrency=3):
        results = [await queue.result(i, wait=True, timeout=10) for i in ids]
    assert [r.answer for r in results] == list(range(6)) and all(r.ok for r in results)
    job = await queue.status(ids[0])
    assert (job.status, job.attempts, job.error) == ("completed", 1, None)
    assert job.worker is not None and job.started_at is not None and job.finished_at is not None
    events = [e.type async for _, e in queue.events(ids[0])]
    assert events == ["run.started", "step.started", "step.finished", "step.started", "step.finished",
                      "run.finished"]
    assert await redis_client.xlen(keyspace.jobs_stream) == 0  # acknowledged and deleted


async def test_user_error_fails_at_once_without_retry(
    queue: JobQueue, running_worker: WorkerFactory, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    job_id = await queue.submit("unknown")
    async with running_worker():
        with pytest.raises(JobError, match="failed: UnknownNameError: unknown workflow 'unknown'"):
            await queue.result(job_id, wait=True, timeout=10)
        ok = await queue.submit("steps")  # the worker survives a bad job
        assert (await queue.result(ok, wait=True, timeout=10)).ok
    job = await queue.status(job_id)
    assert (job.status, job.attempts) == ("failed", 1)
    assert int(await redis_client.get(keyspace.key("test", "attempts", job_id)) or 0) == 1
    assert await queue.dead_letters() == []


async def test_failing_job_is_retried_then_dead_lettered(
    queue: JobQueue, running_worker: WorkerFactory, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    job_id = await queue.submit("boom")
    flaky = await queue.submit("flaky")
    async with running_worker():
        with pytest.raises(JobError, match="failed: dead-lettered after 3 attempts; last error: RuntimeError: boom"):
            await queue.result(job_id, wait=True, timeout=10)
        assert (await queue.result(flaky, wait=True, timeout=10)).ok
    assert int(await redis_client.get(keyspace.key("test", "attempts", job_id)) or 0) == 3
    job = await queue.status(job_id)
    assert (job.status, job.attempts, job.dead_lettered) == ("failed", 3, True)
    assert job.error == "dead-lettered after 3 attempts; last error: RuntimeError: boom"
    assert not (await queue.status(flaky)).dead_lettered
    dead = await queue.dead_letters()
    assert [(d["job"], d["attempts"]) for d in dead] == [(job_id, "3")]
    assert "RuntimeError: boom" in dead[0]["error"]
    assert (await queue.status(flaky)).attempts == 2


async def test_cancel_a_running_job(
    queue: JobQueue, runner: StepRunner, running_worker: WorkerFactory
) -> None:
    job_id = await queue.submit("steps", {"steps": 50, "delay": 0.1})
    async with running_worker():
        await _until("running", queue, job_id)
        requested = time.monotonic()
        await queue.cancel(job_id)
        await _until("cancelled", queue, job_id, within=5)
        assert time.monotonic() - requested < 2
    job = await queue.status(job_id)
    assert job.error == "cancelled while running"
    assert await runner.calls(job_id, "s49") == 0
    events = [e async for _, e in queue.events(job_id)]
    assert events[-1].type == "run.failed" and events[-1].data["status"] == "cancelled"


async def test_stale_job_of_a_dead_consumer_is_reclaimed_and_resumed(
    queue: JobQueue, runner: StepRunner, running_worker: WorkerFactory
) -> None:
    job_id = await queue.submit("steps", {"steps": 3})
    # a consumer takes the job, runs its first step, and dies without acknowledging
    [delivery] = await queue.worker_read("dead-consumer", 1, 100)
    assert delivery == Delivery(delivery.message_id, job_id)
    job = await queue.worker_start(delivery, "dead-consumer")
    assert job is not None and job.attempts == 1
    await runner.client.hset(runner.keys.key("test", "done", job_id), "s0", "1")
    await runner.client.incr(runner.calls_key(job_id, "s0"))
    async with running_worker(name="survivor"):
        result = await queue.result(job_id, wait=True, timeout=15)
    assert result.ok
    job = await queue.status(job_id)
    assert (job.attempts, job.worker) == (2, "survivor")
    assert [await runner.calls(job_id, s) for s in ("s0", "s1", "s2")] == [1, 1, 1]


async def test_in_flight_jobs_are_not_reclaimed_while_their_worker_lives(
    queue: JobQueue, runner: StepRunner, running_worker: WorkerFactory
) -> None:
    # each run takes 3x the visibility timeout; the heartbeat keeps the other worker off it
    ids = [await queue.submit("steps", {"steps": 3, "delay": 1.0}) for _ in range(2)]
    async with running_worker(name="a", concurrency=2), running_worker(name="b", concurrency=2):
        for job_id in ids:
            assert (await queue.result(job_id, wait=True, timeout=20)).ok
    for job_id in ids:
        assert (await queue.status(job_id)).attempts == 1
        assert [await runner.calls(job_id, s) for s in ("s0", "s1", "s2")] == [1, 1, 1]


async def test_worker_start_dead_letters_after_max_attempts(queue: JobQueue) -> None:
    job_id = await queue.submit("steps")
    for attempt in range(1, 5):
        reclaim = await queue.worker_read("c", 1, 100) if attempt == 1 else []
        if attempt > 1:
            await asyncio.sleep(1.05)
            reclaim = await queue.worker_reclaim("c", 1)
        [delivery] = reclaim
        job = await queue.worker_start(delivery, "c")
        if attempt <= 3:
            assert job is not None and job.attempts == attempt
        else:
            assert job is None
    job = await queue.status(job_id)
    assert (job.status, job.dead_lettered) == ("failed", True)
    assert job.error == ("dead-lettered after 3 attempts; last error: "
                         "the worker running it stopped without finishing")
    assert [d["job"] for d in await queue.dead_letters()] == [job_id]


async def test_scripts_keep_inputs_exactly(queue: JobQueue) -> None:
    # the start/finish scripts rewrite only the record's state, never decode the inputs
    inputs = {"empty": [], "nested": {"list": [], "map": {}}, "big": 2**63 + 1, "float": 0.1 + 0.2, "text": "é/\"x\""}
    job_id = await queue.submit("steps", inputs)
    [delivery] = await queue.worker_read("c", 1, 100)
    job = await queue.worker_start(delivery, "wörker \"1\"")
    assert job is not None and job.inputs == inputs and job.worker == "wörker \"1\""
    done = await queue.worker_finish(job, delivery, "failed", "bad: \"quoted\", /slashed/ ünïcode")
    assert done.inputs == inputs and (done.status, done.error) == ("failed", "bad: \"quoted\", /slashed/ ünïcode")
    assert await queue.status(job_id) == done and done.started_at == job.started_at


async def test_a_record_in_the_old_field_order_is_rewritten_then_started(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace
) -> None:
    job_id = await queue.submit("steps", {"n": 1})
    record = (await queue.status(job_id)).model_dump(mode="json")
    old_order = ["id", "target", "inputs", "sensitivity", "status", "attempts", "run_id", "error",
                 "idempotency_key", "worker", "created_at", "started_at", "finished_at"]
    await redis_client.set(keyspace.job(job_id), json.dumps({k: record[k] for k in old_order}))
    [delivery] = await queue.worker_read("c", 1, 100)
    job = await queue.worker_start(delivery, "c")
    assert job is not None and (job.status, job.attempts, job.inputs) == ("running", 1, {"n": 1})


async def test_result_wait_is_woken_by_the_finish(queue: JobQueue) -> None:
    job_id = await queue.submit("steps")
    [delivery] = await queue.worker_read("c", 1, 100)
    job = await queue.worker_start(delivery, "c")
    assert job is not None
    waiter = asyncio.create_task(queue.result(job_id, wait=True, timeout=20))
    await asyncio.sleep(0.2)  # subscribed and checked: now it waits for the message
    finished = time.monotonic()
    await queue.worker_finish(job, delivery, "completed", run=RunResult(run_id=job_id, status="completed"))
    assert (await waiter).ok
    assert time.monotonic() - finished < 1  # no polling interval in between (they are >= 1s)
