"""A run's end reaches its event stream even when Redis blips as the engine writes it.

Found by the lossy-link test (:mod:`tests.queue.test_netns`): the engine's ``run.finished`` is
best-effort (a failed emit is logged, the run goes on), so a blip at that moment left a
completed job whose stream never ends (SSE followers wait for ever). The worker now writes the
missing end itself, fenced, before FINISH.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from orchestrator.errors import StoreError
from orchestrator.keys import KeySpace
from orchestrator.queue import Job, Worker
from orchestrator.settings import Settings
from orchestrator.store.redis import RedisStore
from orchestrator.types import Event, RunResult
from tests.queue.conftest import running
from tests.queue.engine_app import CountingOrchestrator


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


async def test_a_run_end_lost_to_a_blip_is_written_by_the_worker(
    engine: CountingOrchestrator, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[str] = []
    emit = RedisStore.emit

    async def blip_at_the_end(store: RedisStore, event: Event) -> None:
        if event.terminal and not failed:
            failed.append(event.type)
            raise StoreError("cannot reach Redis (a blip)")
        await emit(store, event)

    monkeypatch.setattr(RedisStore, "emit", blip_at_the_end)
    job, ends = await _one_job(engine, 3)
    assert (job.status, job.attempts) == ("completed", 1)
    assert failed == ["run.finished"]  # the engine's own end was lost
    assert [(e.type, e.data["status"], e.data["answer"]) for e in ends] == [("run.finished", "completed", {"tag": 3})]


@pytest.mark.xfail(strict=True, reason="open bug (engine): run.finished is emitted inside the run, so a run that "
                   "fails after it (here saving its record) and is retried ends its event stream twice")
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
