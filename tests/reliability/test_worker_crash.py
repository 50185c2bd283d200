"""A worker SIGKILLed at random points loses no job and repeats no completed step or model call."""

from __future__ import annotations

import asyncio
import random
import time

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings
from tests.conftest import REDIS_URL
from tests.reliability.app import MODEL_STEPS, STEPS, counter_key
from tests.reliability.conftest import PoolFactory, WorkerPool

JOBS = 50
KILLS = 3
CHECKPOINT_MARGIN = 0.5
"""A step that finished this long before a kill has surely been checkpointed."""


async def _until_ready(client: aioredis.Redis, keys: KeySpace, name: str, pool: WorkerPool) -> None:
    """Wait (bounded) for the worker's first heartbeat."""
    deadline = time.monotonic() + 30
    while not await client.exists(keys.worker(name)):
        assert pool.alive(name), f"worker {name} exited:\n{pool.output()}"
        assert time.monotonic() < deadline, f"worker {name} never started:\n{pool.output()}"
        await asyncio.sleep(0.05)


async def _all_finished(queue: JobQueue, ids: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        jobs = [await queue.status(i) for i in ids]
        if all(j.finished for j in jobs):
            return
        assert time.monotonic() < deadline, f"{sum(not j.finished for j in jobs)} jobs never finished"
        await asyncio.sleep(0.1)


async def _not_rerun_after_completing(
    client: aioredis.Redis, keys: KeySpace, token: str, step: str, kills: list[float]
) -> None:
    """A step (a tool run, or a model call) whose execution ended well before a kill never starts again."""
    started = [float(t) for t in await client.lrange(counter_key(keys, "started_at", token, step), 0, -1)]
    finished = [float(t) for t in await client.lrange(counter_key(keys, "finished_at", token, step), 0, -1)]
    what = "called its model" if step in MODEL_STEPS else "ran"
    for ended in finished:
        later = [t for t in started if t > ended]
        if later:  # started again: allowed only if no kill came well after this execution ended
            kill = min((k for k in kills if k > ended), default=None)
            assert kill is not None and kill - ended < CHECKPOINT_MARGIN, (
                f"{token}: {step} completed at {ended:.3f}, before the kill at {kill}, and {what} again")


async def test_sigkilled_worker_loses_no_job_and_repeats_no_completed_step(
    redis_client: aioredis.Redis, keyspace: KeySpace, worker_pool: PoolFactory,
) -> None:
    queue = JobQueue(redis_client, keyspace, QueueSettings(result_ttl=600, events_ttl=600))
    pool = worker_pool(REDIS_URL, keyspace.prefix, concurrency=4, visibility_timeout=1.0, max_attempts=10)
    for name in ("steady", "victim"):
        await pool.start(name)
    tokens = {await queue.submit("counted", {"token": f"t{i}", "delay": 0.15}): f"t{i}" for i in range(JOBS)}
    ids = list(tokens)

    rng = random.Random(20240611)
    kills: list[float] = []
    for _ in range(KILLS):  # kill the victim at a random moment of its work, restart it
        await _until_ready(redis_client, keyspace, "victim", pool)
        await asyncio.sleep(rng.uniform(0.2, 0.9))
        kills.append(time.time())
        await pool.kill("victim")
        await pool.start("victim")
    await _all_finished(queue, ids, within=120)

    jobs = {i: await queue.status(i) for i in ids}
    assert {j.status for j in jobs.values()} == {"completed"}, pool.output()
    assert sum(j.attempts for j in jobs.values()) > JOBS, "no kill interrupted a job: the test proved nothing"
    listed = [j.id for j in await queue.list(limit=10 * JOBS)]
    assert sorted(listed) == sorted(ids)  # each job exactly once
    assert await queue.dead_letters() == []
    for job_id, token in tokens.items():
        result = await queue.result(job_id)
        assert result.status == "completed" and result.run_id == job_id
        assert [s.step_id for s in result.steps] == [f"s{i}" for i in range(STEPS)]
        assert {result.step(s).model for s in MODEL_STEPS} == {"function:tally"}
        started = [int(await redis_client.get(counter_key(keyspace, "started", token, f"s{i}")) or 0)
                   for i in range(STEPS)]
        finished = [int(await redis_client.get(counter_key(keyspace, "finished", token, f"s{i}")) or 0)
                    for i in range(STEPS)]
        assert all(n >= 1 for n in finished) and all(f <= s for f, s in zip(finished, started, strict=True))
        # A resumed run re-executes only the step that was in flight when its worker died:
        # one at most per interruption, never the completed steps before it; for a model step
        # that means its model is called again only if the call was cut short.
        repeats = sum(n - 1 for n in started)
        assert repeats <= jobs[job_id].attempts - 1, (job_id, started, jobs[job_id].attempts)
        for i in range(STEPS):
            await _not_rerun_after_completing(redis_client, keyspace, token, f"s{i}", kills)
        assert result.answer == {"n": started[-1]}
