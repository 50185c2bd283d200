"""A worker killed mid-run on the real engine: the run resumes from its checkpoint elsewhere.

Two ``orchestrator worker`` processes run :class:`~tests.queue.engine_app.CountingOrchestrator`
(LangGraph executor, RedisCheckpointer, RedisStore). One is SIGKILLed while a job is in the
middle of a step, after one of its model steps completed; the other reclaims its jobs. Every job
completes exactly once, and no step that had completed before the kill runs again, nor calls
its model again: only steps in flight at the kill may. The counts live in Redis, so they
include what the killed process did.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue
from tests.conftest import SHARDED, parametrize_topology
from tests.queue.conftest import Spawn
from tests.queue.engine_app import MODEL_STEPS, STEPS, done_key, executions

APP = "tests.queue.engine_app:make_orchestrator"
CHECKPOINT_MARGIN = 0.25
"""A step that finished this long before the kill has surely been checkpointed."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On one Redis and on the local Redis Cluster with three queue shards (checkpoints fenced there)."""
    parametrize_topology(metafunc, ("single", SHARDED))


async def _calls(client: aioredis.Redis, keys: KeySpace, run_id: str) -> dict[str, int]:
    return {s: await executions(client, keys, run_id, s) for s in STEPS}


async def _finished_at(client: aioredis.Redis, keys: KeySpace, run_id: str) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in (await client.hgetall(done_key(keys, run_id))).items()}


async def test_a_killed_engine_worker_repeats_no_checkpointed_step(
    queue: JobQueue, redis_client: aioredis.Redis, keyspace: KeySpace, spawn_worker: Spawn
) -> None:
    ids = [await queue.submit("counted", {"tag": i, "delay": 0.6}) for i in range(6)]
    victim = await spawn_worker("victim", "--concurrency", "3", app=APP)
    survivor = await spawn_worker("survivor", "--concurrency", "3", app=APP)

    async def victim_mid_step() -> bool:
        """A job of the victim has a completed model step and another step in flight."""
        for job in await queue.list(status="running"):
            if job.worker == "victim":
                calls = await _calls(redis_client, keyspace, job.id)
                started = {s for s, n in calls.items() if n}
                done = set(await _finished_at(redis_client, keyspace, job.id))
                if done & set(MODEL_STEPS) and started - done:
                    return True
        return False

    deadline = time.monotonic() + 60
    while not await victim_mid_step():
        assert time.monotonic() < deadline, "the victim never got to the middle of a job"
        await asyncio.sleep(0.05)
    await asyncio.sleep(CHECKPOINT_MARGIN + 0.05)  # the step before it is checkpointed by now
    victim.kill()  # SIGKILL: no cleanup; its deliveries stay pending until reclaimed
    killed_at = time.time()
    await victim.wait()
    killed = {j.id: await _finished_at(redis_client, keyspace, j.id)
              for j in await queue.list(status="running") if j.worker == "victim"}
    assert killed

    results = [await queue.result(job_id, wait=True, timeout=90) for job_id in ids]
    assert [r.answer for r in results] == [{"tag": i} for i in range(6)]
    assert all(r.ok and [s.step_id for s in r.steps] == list(STEPS) for r in results)
    assert {r.step(s).model for r in results for s in MODEL_STEPS} == {"function:counter"}
    resumed = resumed_after_a_model_call = 0
    for job_id in ids:
        job = await queue.status(job_id)
        calls = await _calls(redis_client, keyspace, job_id)
        finishes = [e.type async for _, e in queue.events(job_id) if e.type in ("run.finished", "run.failed")]
        assert (job.status, finishes) == ("completed", ["run.finished"]), f"{job_id}: completes exactly once"
        assert (await queue.store.get_run(job_id)) == results[ids.index(job_id)]
        if job_id not in killed:
            assert job.attempts == 1 and calls == dict.fromkeys(STEPS, 1)
            continue
        assert (job.attempts, job.worker) == (2, "survivor")
        checkpointed = [s for s, at in killed[job_id].items() if at < killed_at - CHECKPOINT_MARGIN]
        for step in checkpointed:
            what = "called its model" if step in MODEL_STEPS else "ran"
            assert calls[step] == 1, f"{job_id}: {step} completed before the kill and {what} again"
        assert all(1 <= n <= 2 for n in calls.values()), calls
        resumed += bool(checkpointed)
        resumed_after_a_model_call += any(step in MODEL_STEPS for step in checkpointed)
    assert resumed, "no killed job had a checkpointed step to skip"
    assert resumed_after_a_model_call, "no killed job had a checkpointed model step: model calls went unchecked"
    survivor.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(survivor.wait(), 20) == 0
