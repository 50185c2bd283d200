"""Workers as real processes: graceful SIGTERM, a SIGKILL mid-run, and the CLI."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from orchestrator.queue import JobQueue
from tests.conftest import SHARDED, parametrize_topology
from tests.queue.app import StepRunner
from tests.queue.conftest import Spawn, WorkerFactory, run_cli


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The crash test on one Redis and on the local Redis Cluster with three queue shards."""
    if metafunc.function.__name__ == "test_a_killed_worker_loses_nothing_and_repeats_no_completed_step":
        parametrize_topology(metafunc, ("single", SHARDED))


async def _wait_for(check: Callable[[], Coroutine[Any, Any, bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_sigterm_lets_the_in_flight_job_finish(
    queue: JobQueue, runner: StepRunner, spawn_worker: Spawn
) -> None:
    job_id = await queue.submit("steps", {"steps": 3, "delay": 0.4})
    proc = await spawn_worker("w-term")

    async def running() -> bool:
        return (await queue.status(job_id)).status == "running"

    await _wait_for(running, 30, "the job to start")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    job = await queue.status(job_id)
    assert (job.status, job.attempts) == ("completed", 1)
    assert await runner.finished(job_id) == 1


async def test_sigterm_past_the_grace_period_hands_the_job_back(
    queue: JobQueue, runner: StepRunner, spawn_worker: Spawn, running_worker: WorkerFactory
) -> None:
    job_id = await queue.submit("steps", {"steps": 4, "delay": 0.5})
    proc = await spawn_worker("w-short-grace", "--grace", "0.3")

    async def one_step_done() -> bool:
        return "s0" in await runner.done_steps(job_id)

    await _wait_for(one_step_done, 30, "the first step")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    job = await queue.status(job_id)
    assert job.status == "queued" and job.error == "interrupted by worker shutdown"
    done_at_stop = await runner.done_steps(job_id)
    async with running_worker(name="next"):  # reclaims the pending entry after the visibility timeout
        assert (await queue.result(job_id, wait=True, timeout=20)).ok
    for step in done_at_stop:
        assert await runner.calls(job_id, step) == 1
    assert (await queue.status(job_id)).attempts == 2


async def test_a_killed_worker_loses_nothing_and_repeats_no_completed_step(
    queue: JobQueue, runner: StepRunner, spawn_worker: Spawn
) -> None:
    ids = [await queue.submit("steps", {"steps": 4, "delay": 0.3, "answer": i}) for i in range(8)]
    victim = await spawn_worker("victim", "--concurrency", "2")

    async def victim_mid_run() -> bool:
        for job in await queue.list(status="running"):
            if job.worker == "victim" and await runner.done_steps(job.id):
                return True
        return False

    await _wait_for(victim_mid_run, 30, "the victim to be in the middle of a job")
    victim.kill()  # SIGKILL: no cleanup, its deliveries stay pending
    await victim.wait()
    killed = {j.id: await runner.done_steps(j.id) for j in await queue.list(status="running")
              if j.worker == "victim"}
    assert killed
    survivor = await spawn_worker("survivor", "--concurrency", "2")

    results = [await queue.result(job_id, wait=True, timeout=60) for job_id in ids]
    assert [r.answer for r in results] == list(range(8)) and all(r.ok for r in results)
    for job_id in ids:
        job = await queue.status(job_id)
        assert job.status == "completed"
        assert await runner.finished(job_id) == 1, "every job completes exactly once"
        if job_id in killed:
            assert (job.attempts, job.worker) == (2, "survivor")
            for step in killed[job_id]:
                assert await runner.calls(job_id, step) == 1, f"{job_id}: completed {step} ran again"
        else:
            assert job.attempts == 1
            assert [await runner.calls(job_id, f"s{i}") for i in range(4)] == [1, 1, 1, 1]
    survivor.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(survivor.wait(), 20) == 0
    print(f"\nworker SIGKILL: {len(ids)} accepted, {len(ids)} completed once, 0 lost, 0 double-applied; "
          f"{len(killed)} taken over from the killed worker without re-running a completed step")


async def test_cli_submit_wait_status_list_cancel(
    queue: JobQueue, spawn_worker: Spawn, cli_env: dict[str, str]
) -> None:
    await spawn_worker("w-cli")
    code, out, _err = await run_cli(cli_env, "submit", "steps", "--input", "steps:=2", "--input", "answer=hi",
                                 "--idempotency-key", "k1", "--wait", "--timeout", "30", "--json")
    assert code == 0, _err
    doc = json.loads(out)
    assert doc["result"]["answer"] == "hi" and doc["result"]["status"] == "completed"
    job_id = doc["job_id"]
    code, out, _ = await run_cli(cli_env, "submit", "steps", "--input", "steps:=2", "--input", "answer=hi",
                                 "--idempotency-key", "k1")
    assert (code, out.strip()) == (0, job_id)
    code, out, err = await run_cli(cli_env, "submit", "steps", "--idempotency-key", "k1")  # other inputs
    assert (code, out) == (2, "") and err.strip().splitlines() == [
        f"error: idempotency key 'k1' was already used for job {job_id} with a different target or inputs; "
        "use a new key for new work"]

    code, out, _ = await run_cli(cli_env, "jobs", "status", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "completed"
    code, out, _ = await run_cli(cli_env, "jobs", "events", job_id, "--json")
    assert [json.loads(line)["type"] for line in out.splitlines()][-1] == "run.finished"
    code, out, _ = await run_cli(cli_env, "jobs", "list", "--status", "completed")
    assert code == 0 and job_id in out

    queued = await queue.submit("steps", {"steps": 100, "delay": 0.2})
    code, out, _ = await run_cli(cli_env, "jobs", "cancel", queued)
    assert code == 0 and queued in out
    await _wait_for(lambda: _status_is(queue, queued, "cancelled"), 10, "the cancel")

    code, out, err = await run_cli(cli_env, "jobs", "result", "no-such-job")
    assert code == 1 and out == "" and err.strip().splitlines() == [
        "error: job no-such-job: unknown job (never submitted, or its record expired)"
    ]


async def _status_is(queue: JobQueue, job_id: str, status: str) -> bool:
    return (await queue.status(job_id)).status == status


async def test_cli_without_redis_says_so(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "REDIS_URL"}
    code, out, err = await run_cli(env, "jobs", "list")
    assert code == 2 and out == ""
    assert "needs Redis; set REDIS_URL" in err and "Traceback" not in err
