"""A worker's metrics (jobs by outcome, retries, dead letters, jobs in flight) and the queue's depth."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.errors import JobError
from orchestrator.queue import JobQueue
from orchestrator.telemetry import metrics
from tests.queue.conftest import WorkerFactory, queue, runner, running_worker

__all__ = ["queue", "runner", "running_worker"]  # the queue tests' fixtures, used here


async def test_retries_dead_letters_and_outcomes_are_counted(prometheus: None, queue: JobQueue,
                                                              running_worker: WorkerFactory) -> None:
    boom = await queue.submit("boom")  # fails every attempt (3): two retries, then the dead letter
    ok = await queue.submit("steps")
    assert await queue.depth() == 2  # queued, not yet delivered
    async with running_worker():
        with pytest.raises(JobError):
            await queue.result(boom, wait=True, timeout=10)
        assert (await queue.result(ok, wait=True, timeout=10)).ok
    assert metrics.metric("slm_job_retries_total") == 2
    assert metrics.metric("slm_dead_letters_total") == 1
    assert metrics.metric("slm_jobs_total", {"status": "failed"}) == 1
    assert metrics.metric("slm_jobs_total", {"status": "completed"}) == 1
    assert metrics.metric("slm_jobs_in_flight") == 0
    assert await queue.depth() == 0


async def test_the_worker_reads_the_queue_depth_at_each_scrape(prometheus: None, queue: JobQueue) -> None:
    metrics.queue_depth_at_scrape(queue.depth, asyncio.get_running_loop())
    # the worker's /metrics is served from a thread, as prometheus_client's server does
    assert "slm_queue_depth 0.0" in (await asyncio.to_thread(metrics.exposition)).decode()
    await queue.submit("steps")
    await queue.submit("steps")
    assert "slm_queue_depth 2.0" in (await asyncio.to_thread(metrics.exposition)).decode()


async def test_a_failed_depth_read_exposes_nan_and_the_other_metrics(prometheus: None) -> None:
    async def unreachable() -> int:
        raise ConnectionError("redis is away")

    metrics.queue_depth_at_scrape(unreachable, asyncio.get_running_loop())
    metrics.job_retried()
    text = (await asyncio.to_thread(metrics.exposition)).decode()
    assert "slm_queue_depth NaN" in text and "slm_job_retries_total 1.0" in text
