"""The job backend contract, run on both backends: the Redis queue (with a worker) and in-process jobs.

``Orchestrator.submit`` picks the backend from the settings (Redis when ``redis_url`` is set),
so each test here runs once per backend with the same assertions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import IdempotencyConflict, InputError, JobError
from orchestrator.keys import KeySpace
from orchestrator.queue import Job, JobBackend, JobHandle, JobQueue, MemoryJobs, Worker
from tests.conftest import SHARDED, TOPOLOGIES, parametrize_topology
from tests.queue.test_api import _registry, _settings

_FIFO = {"test_cancel_a_queued_and_a_running_job"}
"""Tests relying on jobs starting in the order they were submitted: true within a queue shard
only, so they run on one shard (a single Redis, or the cluster with one shard)."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The contract on one Redis and on the local Redis Cluster (one queue shard, and three)."""
    fifo = metafunc.function.__name__ in _FIFO
    parametrize_topology(metafunc, TOPOLOGIES if fifo else (*TOPOLOGIES, SHARDED))


@pytest.fixture(params=["memory", "redis"])
async def orch(request: pytest.FixtureRequest, redis_url: str, keyspace: KeySpace,
               redis_client: object) -> AsyncIterator[Orchestrator]:
    """An Orchestrator whose jobs run one at a time: in this process, or on Redis with one worker."""
    settings = _settings(redis_url if request.param == "redis" else None, keyspace)
    settings.queue.worker_concurrency = 1
    async with Orchestrator(settings, registry=_registry(), models={}) as client:
        if request.param == "memory":
            yield client
            return
        async with Orchestrator(settings, registry=_registry(), models={}) as engine:
            worker = Worker(engine, engine.queue, name="contract-worker")
            stop = asyncio.Event()
            task = asyncio.create_task(worker.run(stop))
            yield client
            stop.set()
            await asyncio.wait_for(task, 15)


async def _until(handle: JobHandle, status: str, within: float = 10) -> Job:
    deadline = time.monotonic() + within
    while (job := await handle.status()).status != status:
        assert time.monotonic() < deadline, f"job {handle.id} is {job.status}, never {status}"
        await asyncio.sleep(0.02)
    return job


def test_each_backend_is_a_job_backend(orch: Orchestrator) -> None:
    backend: JobBackend = orch.jobs
    assert isinstance(backend, JobQueue if orch.settings.redis_url else MemoryJobs)
    assert backend.name == ("redis" if orch.settings.redis_url else "memory")


async def test_submit_then_result_status_and_events(orch: Orchestrator) -> None:
    handles = [await orch.submit("wait", {"value": i}) for i in range(3)]
    results = [await handle.result(timeout=30) for handle in handles]
    assert [r.answer for r in results] == [{"value": i} for i in range(3)]
    assert all(r.ok and r.run_id == h.id for r, h in zip(results, handles, strict=True))
    job = await orch.job(handles[0].id).status()
    assert (job.status, job.attempts, job.error) == ("completed", 1, None)
    assert job.started_at is not None and job.finished_at is not None
    types = [e.type async for _, e in handles[0].events()]
    assert types[0] == "run.started" and types[-1] == "run.finished"
    record = await orch.jobs.run_record(handles[0].id)
    assert record is not None and record.answer == {"value": 0}


async def test_an_idempotency_key_names_one_job(orch: Orchestrator) -> None:
    first = await orch.submit("wait", {"value": 1}, idempotency_key="order-1")
    again = await orch.submit("wait", {"value": 1}, idempotency_key="order-1")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict, match=f"already used for job {first.id}"):
        await orch.submit("wait", {"value": 2}, idempotency_key="order-1")
    assert (await first.result(timeout=30)).answer == {"value": 1}


async def test_unknown_ids_are_job_errors(orch: Orchestrator) -> None:
    handle = orch.job("nope")
    for call in (handle.status(), handle.result(timeout=1), handle.cancel(), orch.jobs.run_record("nope")):
        with pytest.raises(JobError, match="job nope: unknown job"):
            await call
    with pytest.raises(JobError):
        [item async for item in handle.events(follow=False)]


async def test_result_of_an_unfinished_job(orch: Orchestrator) -> None:
    handle = await orch.submit("wait", {"value": 1, "delay": 2.0})
    with pytest.raises(JobError, match="not finished yet"):
        await orch.jobs.result(handle.id)
    with pytest.raises(JobError, match="not finished within"):
        await handle.result(timeout=0.2)
    await handle.cancel()


async def test_cancel_a_queued_and_a_running_job(orch: Orchestrator) -> None:
    running = await orch.submit("wait", {"value": 1, "delay": 30.0})
    queued = await orch.submit("wait", {"value": 2})  # one job at a time: this one waits
    await _until(running, "running")
    assert (await queued.status()).status == "queued"
    assert await orch.jobs.run_record(queued.id) is None
    assert (await queued.cancel()).status == "cancelled"
    with pytest.raises(JobError, match="cancelled: cancelled before it started"):
        await queued.result(timeout=5)
    events = [e async for _, e in queued.events(timeout=5)]
    assert [e.type for e in events] == ["run.failed"] and events[0].data["status"] == "cancelled"
    await running.cancel()
    job = await _until(running, "cancelled")
    assert job.error == "cancelled while running"
    with pytest.raises(JobError, match="cancelled"):
        await running.result(timeout=5)
    events = [e async for _, e in running.events(timeout=5)]
    assert events[0].type == "run.started" and events[-1].type == "run.failed"
    assert events[-1].data["status"] == "cancelled"


async def test_hostile_inputs_are_refused_at_submission(orch: Orchestrator) -> None:
    deep: object = "x"
    for _ in range(900):
        deep = [deep]
    for inputs, reason in (({"value": deep}, "nested deeper"), ({"value": float("nan")}, "not a JSON number"),
                           ({"value": "a\ud800b"}, "surrogate")):
        with pytest.raises(InputError, match=reason):
            await orch.jobs.submit("wait", inputs)  # the backend itself, not only Orchestrator.submit
    handle = await orch.submit("wait", {"value": 1})  # and the backend goes on taking good jobs
    assert (await handle.result(timeout=30)).answer == {"value": 1}
