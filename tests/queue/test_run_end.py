"""A run's end reaches its event stream once, with the job's outcome.

Found by the lossy-link test (:mod:`tests.queue.test_netns`): the engine wrote ``run.finished``
inside the run, best-effort, so a blip at that moment left a completed job whose stream never
ended, and a run that failed after it (saving its record) and was retried ended it twice. The
end is now the worker's, written by the FINISH script with the outcome (:mod:`orchestrator.events`).
On one Redis and on the local Redis Cluster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import StoreError
from orchestrator.keys import KeySpace
from orchestrator.queue import Job, Worker
from orchestrator.queue._redis import Item
from orchestrator.queue.leases import WorkerLeases
from orchestrator.settings import Settings
from orchestrator.store.redis import RedisStore
from orchestrator.types import Event, RunResult
from tests.conftest import TOPOLOGIES, parametrize_topology
from tests.queue.conftest import running
from tests.queue.engine_app import CountingOrchestrator


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_topology(metafunc, TOPOLOGIES)


@pytest.fixture
async def engine(
    keyspace: KeySpace, redis_url: str, redis_client: aioredis.Redis  # redis_client: the test's keys are deleted after
) -> AsyncIterator[CountingOrchestrator]:
    engine = CountingOrchestrator(Settings(redis_url=redis_url, key_prefix=keyspace.prefix,
                                           queue={"visibility_timeout": 5, "poll_interval": 0.05}))
    yield engine
    await engine.aclose()


async def _one_job(engine: CountingOrchestrator, tag: int) -> tuple[Job, list[Event]]:
    """Run one ``counted`` job on an in-process worker: its record and the ends of its event stream."""
    queue = engine.queue
    job_id = await queue.submit("counted", {"tag": tag})
    async with running(Worker(engine, queue, name="w")):
        [job] = await queue.wait([job_id], timeout=30)
    return job, [e for _, e in [item async for item in queue.events(job_id)] if e.terminal]


async def test_a_finish_whose_reply_a_blip_lost_ends_the_stream_once(
    engine: CountingOrchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost: list[int] = []
    finish_many = WorkerLeases._finish_many

    async def reply_lost(leases: WorkerLeases, items: list[Item]) -> list[list[Any]]:
        replies = await finish_many(leases, items)  # applied by Redis...
        if not lost:
            lost.append(len(items))
            raise StoreError("cannot reach Redis (a blip)")  # ...but the answer never came back
        return replies

    monkeypatch.setattr(WorkerLeases, "_finish_many", reply_lost)
    job, ends = await _one_job(engine, 3)
    assert (job.status, job.attempts, lost) == ("completed", 1, [1])
    assert [(e.type, e.data["status"], e.data["answer"]) for e in ends] == [("run.finished", "completed", {"tag": 3})]


async def test_a_run_end_is_written_after_the_outcome(engine: CountingOrchestrator) -> None:
    """A follower that sees the end and reads the job finds it finished (issue 20)."""
    queue = engine.queue
    job_id = await queue.submit("counted", {"tag": 5})
    async with running(Worker(engine, queue, name="w")):
        async for _, event in queue.events(job_id, follow=True, timeout=30):
            if event.terminal:
                break
        job = await queue.status(job_id)
        result = await queue.result(job_id)
    assert (event.type, job.status, result.answer) == ("run.finished", "completed", {"tag": 5})


async def test_a_run_retried_after_its_end_event_ends_its_stream_once(
    engine: CountingOrchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[str] = []
    save_run = RedisStore.save_run

    async def blip_after_the_end(store: RedisStore, run: RunResult) -> None:
        if run.status == "completed" and not failed:
            failed.append(run.status)
            raise StoreError("cannot reach Redis (a blip)")
        await save_run(store, run)

    monkeypatch.setattr(RedisStore, "save_run", blip_after_the_end)
    job, ends = await _one_job(engine, 4)
    assert (job.status, job.attempts, failed) == ("completed", 2, ["completed"])
    assert [e.type for e in ends] == ["run.finished"]


async def test_a_direct_run_streams_one_end_after_its_record(engine: CountingOrchestrator) -> None:
    """``Orchestrator.stream`` (no queue): one end event, the last, sent once the record is saved."""
    seen: list[tuple[str, str | None]] = []
    async for event in engine.stream("counted", {"tag": 6}, run_id="direct-6"):
        store = engine.store  # connected on the run's first use
        assert store is not None
        saved = await store.get_run("direct-6") if event.terminal else None
        seen.append((event.type, saved.status if saved is not None else None))
    assert [kind for kind, _ in seen if kind in ("run.finished", "run.failed")] == ["run.finished"]
    assert seen[-1] == ("run.finished", "completed")
