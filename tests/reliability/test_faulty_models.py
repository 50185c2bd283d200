"""Models that hang, fail or answer garbage: every run ends completed or with a recorded reason.

100 runs of the ``faulty`` workflow (two model steps on a cascade small -> big, then a tool; see
:mod:`tests.reliability.faulty_app`) whose models misbehave on 30% of calls. In-process (seeded),
exact rates are not asserted, only the invariants, and that each recovery path (repair,
escalation) and failure path was taken at least once. As queued jobs through two worker
processes: the same invariants, every job ends, no worker dies and their logs hold no
traceback, no unhandled exception and no error.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from orchestrator.events import Collector
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings
from tests.conftest import REDIS_URL
from tests.reliability.conftest import PoolFactory
from tests.reliability.faulty_app import FAULTS, FaultyModel, check_run, faulty_orchestrator, paths_taken

RUNS = 100
LOG_PROBLEMS = re.compile(r"Traceback|Unhandled|never retrieved|exception|\"level\": \"(error|critical)\"",
                          re.IGNORECASE)
"""What must not appear in a worker's log: tracebacks, unhandled or unretrieved exceptions, errors."""


async def test_faulty_models_never_lose_a_run() -> None:
    rng = random.Random(1234)
    small, big = FaultyModel("function:small", rng), FaultyModel("function:big", rng)
    orch = faulty_orchestrator(small, big, redis_url=None)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    seen: Counter[str] = Counter()
    for batch in range(RUNS // 10):  # ten runs at a time, so hangs overlap
        sinks = [Collector() for _ in range(10)]
        results = await asyncio.wait_for(asyncio.gather(*(
            orch.run("faulty", {"text": f"ticket {batch}-{i}"}, events=sink) for i, sink in enumerate(sinks)
        )), timeout=60)
        for result, sink in zip(results, sinks, strict=True):
            check_run(result, sink.types())
            seen += paths_taken(result)
    await orch.aclose()
    assert unhandled == []
    assert seen["completed"] + seen["failed"] == RUNS
    assert seen["completed"] > RUNS // 2  # faults are recovered from far more often than not
    for path in ("failed", "repaired", "escalated", "timed_out", "cascade_exhausted"):
        assert seen[path] > 0, f"no run took the {path} path: {dict(seen)}"
    assert {f for m in (small, big) for f in m.did} == {"ok", *FAULTS}


async def test_faulty_models_behind_worker_processes_kill_no_worker_and_log_no_error(
    redis_client: aioredis.Redis, keyspace: KeySpace, worker_pool: PoolFactory,
) -> None:
    queue = JobQueue(redis_client, keyspace, QueueSettings(result_ttl=600, events_ttl=600))
    pool = worker_pool(REDIS_URL, keyspace.prefix, concurrency=10, visibility_timeout=5.0, max_attempts=3,
                       app="tests.reliability.faulty_app:make_worker_app")
    names = ("w0", "w1")
    for name in names:
        await pool.start(name)
    ids = [await queue.submit("faulty", {"text": f"ticket {i}"}) for i in range(RUNS)]

    deadline = time.monotonic() + 90
    while not all(j.finished for j in [await queue.status(i) for i in ids]):
        assert all(pool.alive(n) for n in names), f"a worker died:\n{pool.output()}"
        assert time.monotonic() < deadline, f"jobs still unfinished after 90s:\n{pool.output()}"
        await asyncio.sleep(0.2)

    seen: Counter[str] = Counter()
    for job_id in ids:
        job = await queue.status(job_id)
        assert job.status in ("completed", "failed") and job.attempts == 1 and not job.dead_lettered, job
        result = await queue.result(job_id)
        assert (job.status, job.error) == (result.status, result.error)
        check_run(result, [e.type async for _, e in queue.events(job_id)])
        seen += paths_taken(result)
    assert seen["completed"] + seen["failed"] == RUNS
    assert seen["completed"] > RUNS // 2 and seen["failed"] > 0, dict(seen)
    assert {j.worker for j in await queue.list(limit=RUNS)} == set(names), "one worker did all the work"
    await pool.stop()  # SIGTERM: both drain and exit cleanly
    logs = {path.name: path.read_text(errors="replace") for path in sorted(pool.logs.glob("*.log"))}
    assert len(logs) == len(names)
    for name, text in logs.items():
        assert "worker.stopped" in text, f"{name} did not stop cleanly:\n{text[-3000:]}"
        problems = [line for line in text.splitlines() if LOG_PROBLEMS.search(line)]
        assert problems == [], f"{name}:\n" + "\n".join(problems[:20])
