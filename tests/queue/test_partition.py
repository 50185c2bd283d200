"""A worker cut off from Redis mid-job (issue 13, bugs 1 and 2), with the real engine.

Worker ``a`` reaches Redis through a TCP proxy (:mod:`tests.queue.proxy`), worker ``b`` directly;
both run :class:`~tests.queue.engine_app.CountingOrchestrator` (checkpointed steps that count
their executions). The proxy is paused mid-job (a partition: ``a``'s bytes are held, and
delivered late when it heals), ``b`` takes the job over and completes it, then the link heals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from orchestrator.settings import Settings
from tests.queue.conftest import running
from tests.queue.engine_app import STEPS, CountingOrchestrator, done_key, executions
from tests.queue.proxy import Proxy

BOUND = 60.0


def _settings(url: str, keyspace: KeySpace) -> Settings:
    return Settings(redis_url=url, key_prefix=keyspace.prefix,
                    queue={"visibility_timeout": 1.5, "poll_interval": 0.05, "result_ttl": 600, "events_ttl": 600,
                           "checkpoint_ttl": 600, "worker_concurrency": 2},
                    redis={"connect_timeout": 0.5, "socket_timeout": 2.0})


@asynccontextmanager
async def _worker(url: str, keyspace: KeySpace, name: str) -> AsyncIterator[Worker]:
    engine = CountingOrchestrator(_settings(url, keyspace))
    try:
        async with running(Worker(engine, engine.queue, name=name), within=30) as worker:
            yield worker
    finally:
        await engine.aclose()


async def _until(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_partitioned_worker_loses_its_job_and_nothing_is_lost_or_applied_twice(
    redis_client: aioredis.Redis, keyspace: KeySpace, redis_url: str
) -> None:
    proxy = await Proxy(int(redis_url.rsplit(":", 1)[1].split("/")[0])).start()
    queue = JobQueue(redis_client, keyspace, _settings(redis_url, keyspace).queue)
    try:
        async with _worker(proxy.url, keyspace, "a") as worker_a:
            job_id = await queue.submit("counted", {"tag": 7, "delay": 1.0})

            async def a_mid_job() -> bool:
                done = await redis_client.hkeys(done_key(keyspace, job_id))
                return b"s0" in done and bool(await executions(redis_client, keyspace, job_id, "s1"))

            await _until(a_mid_job, "worker a never got to the middle of the job")
            await asyncio.sleep(0.3)  # s0 is checkpointed by now
            completed_before = {k.decode() for k in await redis_client.hkeys(done_key(keyspace, job_id))}
            proxy.pause()  # the partition
            async with _worker(redis_url, keyspace, "b"):
                [job] = await queue.wait([job_id], timeout=BOUND)
                assert (job.status, job.attempts, job.worker) == ("completed", 2, "b")
                proxy.resume()  # healed: a's held writes arrive now, and are refused

                async def a_said_so() -> bool:
                    return worker_a._stats.leases_lost == 1 and not worker_a._unreported

                await _until(a_said_so, "worker a never reported its lost lease")
            # the stale worker recovers and takes new jobs
            again = await queue.submit("counted", {"tag": 8})
            [next_job] = await queue.wait([again], timeout=BOUND)
            assert (next_job.status, next_job.attempts, next_job.worker) == ("completed", 1, "a")
        result = await queue.result(job_id)
        assert result.ok and result.answer == {"tag": 7}
        calls = {s: await executions(redis_client, keyspace, job_id, s) for s in STEPS}
        for step in completed_before:
            assert calls[step] == 1, f"{step} completed before the partition and ran again: {calls}"
        assert all(1 <= n <= 2 for n in calls.values()), calls
        events = [e async for _, e in queue.events(job_id)]
        ends = [(e.type, e.data.get("status")) for e in events if e.terminal]
        assert ends == [("run.finished", "completed")], ends  # the stale attempt's end never reached the stream
        lost = [e.data for e in events if e.type == "run.lease_lost"]
        assert [(d["worker"], d["attempt"]) for d in lost] == [("a", 1)]
        assert await queue.store.get_run(job_id) == result
        pending = await redis_client.xpending(keyspace.jobs_stream, keyspace.jobs_group)
        assert pending["pending"] == 0 and await redis_client.xlen(keyspace.jobs_stream) == 0
        print(f"partition: job completed once by b (attempt 2); step executions {calls}; "
              f"completed before the cut and not re-run: {sorted(completed_before)}")
    finally:
        await queue.aclose()
        await proxy.aclose()
