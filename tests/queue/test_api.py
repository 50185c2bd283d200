"""The Python API of the queue: ``Orchestrator.submit`` and awaiting a job's result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.errors import ConfigError, IdempotencyConflict, InputError, JobError, UnknownNameError
from orchestrator.keys import KeySpace
from orchestrator.queue import Worker
from orchestrator.settings import Settings
from orchestrator.types import Sensitivity
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import make_registry


def _registry() -> Registry:
    registry, _ = make_registry()
    wf = Workflow("wait", "Waits, then returns its value.",
                  inputs={"value": Input(int), "delay": Input(float, required=False, default=0.0)})
    wf.output(value=wf.step("s", "sleep", value=wf.input.value, delay=wf.input.delay).value)
    registry.add_workflow(wf)
    return registry


def _settings(redis_url: str | None, keyspace: KeySpace) -> Settings:
    return Settings(redis_url=redis_url, key_prefix=keyspace.prefix,
                    queue={"visibility_timeout": 2.0, "poll_interval": 0.05, "result_ttl": 600, "events_ttl": 600,
                           "checkpoint_ttl": 600, "shards": keyspace.shards})


@pytest.fixture
async def client(redis_url: str, keyspace: KeySpace, redis_client: object) -> AsyncIterator[Orchestrator]:
    """The submitting side (``redis_client`` cleans the test's keys up afterwards)."""
    async with Orchestrator(_settings(redis_url, keyspace), registry=_registry(), models={}) as orch:
        yield orch


@pytest.fixture
async def worker(redis_url: str, keyspace: KeySpace) -> AsyncIterator[Worker]:
    """A worker in this process, on an Orchestrator of its own (as a worker process would be)."""
    async with Orchestrator(_settings(redis_url, keyspace), registry=_registry(), models={}) as engine:
        worker = Worker(engine, engine.queue, concurrency=4, name="api-worker")
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        yield worker
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_submit_then_await_the_result(client: Orchestrator, worker: Worker) -> None:
    handles = [await client.submit("wait", {"value": i, "delay": 0.05}) for i in range(3)]
    results = [await handle.result(timeout=30) for handle in handles]
    assert [r.answer for r in results] == [{"value": i} for i in range(3)]
    assert all(r.ok and r.run_id == h.id for r, h in zip(results, handles, strict=True))
    job = await client.job(handles[0].id).status()
    assert (job.status, job.attempts, job.worker) == ("completed", 1, "api-worker")
    types = [e.type async for _, e in handles[0].events()]
    assert types[0] == "run.started" and types[-1] == "run.finished"


async def test_submit_keeps_sensitivity_and_idempotency(client: Orchestrator, worker: Worker) -> None:
    first = await client.submit("wait", {"value": 1}, sensitivity={"value": "confidential"}, idempotency_key="k")
    assert (await first.status()).sensitivity == {"value": Sensitivity.CONFIDENTIAL}
    again = await client.submit("wait", {"value": 1}, sensitivity={"value": "confidential"}, idempotency_key="k")
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict, match=f"already used for job {first.id}"):
        await client.submit("wait", {"value": 2}, sensitivity={"value": "confidential"}, idempotency_key="k")
    assert (await first.result(timeout=30)).answer == {"value": 1}


async def test_what_could_never_run_is_refused_before_it_is_queued(client: Orchestrator) -> None:
    with pytest.raises(UnknownNameError, match="unknown workflow 'wait_for'"):
        await client.submit("wait_for", {"value": 1})
    with pytest.raises(InputError):
        await client.submit("wait", {"value": "not a number"})
    with pytest.raises(ConfigError, match="planner"):
        await client.submit("summarise these tickets for me")
    assert await client.queue.list() == []


async def test_result_of_a_cancelled_job_says_so(client: Orchestrator) -> None:
    handle = await client.submit("wait", {"value": 1})
    assert (await handle.cancel()).status == "cancelled"
    with pytest.raises(JobError, match="cancelled: cancelled before it started"):
        await handle.result(timeout=5)


async def test_submit_without_redis_runs_in_process(keyspace: KeySpace) -> None:
    """DESIGN section 1: with no Redis configured everything runs in-process, jobs too."""
    async with Orchestrator(_settings(None, keyspace), registry=_registry(), models={}) as orch:
        handle = await orch.submit("wait", {"value": 1})
        assert (await handle.result(timeout=30)).answer == {"value": 1}
        assert (await orch.job(handle.id).status()).status == "completed"
        with pytest.raises(JobError, match="unknown job"):
            await orch.job("some-id").status()
        with pytest.raises(ConfigError, match="submitting jobs needs Redis; set REDIS_URL"):
            orch.queue  # noqa: B018 - the Redis queue itself (for workers) still needs Redis
        assert (await orch.run("wait", {"value": 3})).answer == {"value": 3}  # running in-process still works
