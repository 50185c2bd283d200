"""Queue throughput: no-op jobs/s through submit -> worker -> result, ours beside arq.

Both queues run on the same Redis in the same run, with 1 and 2 worker processes each:
ours (``orchestrator worker`` running a no-op runner), arq with its defaults
(``max_jobs=10``, ``poll_delay=0.5``) and arq tuned (``max_jobs`` = our concurrency,
``poll_delay=0.01``). Neither side's workers log each job (arq's script does not configure
logging; ours run with ``--log-level warning``). Both clients do the same thing: submit every
job (100 at a time), wait for all of them with one batched waiter, then read every result one
by one. The clock runs from the first submit until the last result is read. Ours waits with
``JobQueue.wait`` (woken by the queue's pub/sub channel, it reads only the announced jobs);
arq's checks its result keys in pipelined batches every 10 ms. arq lives in its own venv
(see ``bench/_arq_env.py``).

    python -m bench.queue [--jobs 2000] [--concurrency 16] [--redis redis://127.0.0.1:6379/0]

Prints a table and writes ``bench/results/queue.json``. Run it as a module: a file named
``queue.py`` run as a script would shadow the standard library's ``queue``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class NoopRunner:
    """A :class:`~orchestrator.queue.JobRunner` that does nothing: the queue is all that's measured."""

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Any = None, events: Any = None) -> Any:
        from orchestrator.types import RunResult

        return RunResult(run_id=run_id, status="completed")


def make_noop_runner() -> NoopRunner:
    """The ``--app`` factory of the benchmark's worker processes."""
    return NoopRunner()


# -- ours ---------------------------------------------------------------------


def _ours(url: str, workers: int, jobs: int, concurrency: int) -> dict[str, float]:
    from orchestrator.keys import KeySpace

    keys = KeySpace(f"bench-queue-{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "REDIS_URL": url, "ORCHESTRATOR_KEY_PREFIX": keys.prefix}
    names = [f"bench-{i}" for i in range(workers)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "worker", "--app", "bench.queue:make_noop_runner",
         "--concurrency", str(concurrency), "--name", name, "--log-level", "warning"], cwd=ROOT, env=env,
    ) for name in names]
    try:
        return asyncio.run(_ours_measure(url, keys, names, jobs))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        asyncio.run(_ours_cleanup(url, keys))


async def _ours_measure(url: str, keys: Any, names: list[str], jobs: int) -> dict[str, float]:
    from orchestrator.queue import JobQueue, QueueSettings

    queue = JobQueue.from_url(url, keys, QueueSettings(result_ttl=600, events_ttl=600))
    try:
        deadline = time.monotonic() + 60
        while not all([await queue.client.exists(keys.worker(name)) for name in names]):
            if time.monotonic() > deadline:
                raise SystemExit("our workers did not start within 60s")
            await asyncio.sleep(0.05)
        await _ours_batch(queue, min(200, jobs))  # warm-up
        return await _ours_batch(queue, jobs)
    finally:
        await queue.aclose()


async def _ours_cleanup(url: str, keys: Any) -> None:
    from orchestrator.store import connect

    client = connect(url)
    async for key in client.scan_iter(match=keys.pattern, count=1000):
        await client.delete(key)
    await client.aclose()


async def _ours_batch(queue: Any, jobs: int) -> dict[str, float]:
    """Submit ``jobs`` (100 at a time), wait for all with one waiter, then read every result."""
    gate = asyncio.Semaphore(100)

    async def submit() -> str:
        async with gate:
            return str(await queue.submit("noop"))

    started = time.perf_counter()
    ids = await asyncio.gather(*(submit() for _ in range(jobs)))
    submitted = time.perf_counter() - started
    await queue.wait(ids, timeout=600)
    results = await asyncio.gather(*(queue.result(job_id) for job_id in ids))
    elapsed = time.perf_counter() - started
    assert all(r.ok for r in results)
    return {"seconds": elapsed, "submit_seconds": submitted, "jobs": jobs}


# -- arq ----------------------------------------------------------------------


def _arq(url: str, workers: int, jobs: int, max_jobs: int, poll_delay: float) -> dict[str, float]:
    from bench._arq_env import SCRIPT, arq_python

    python = str(arq_python())
    queue = f"arq:queue:bench-{uuid.uuid4().hex[:8]}"
    procs = [subprocess.Popen([python, str(SCRIPT), "worker", url, queue, str(max_jobs), str(poll_delay)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(workers)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit("an arq worker did not start")
        time.sleep(0.3)

        def enqueue(n: int) -> dict[str, float]:
            out = subprocess.run([python, str(SCRIPT), "enqueue", url, queue, str(n)],
                                 check=True, capture_output=True, text=True, timeout=900)
            return dict(json.loads(out.stdout.strip().splitlines()[-1]))

        enqueue(min(200, jobs))  # warm-up
        return enqueue(jobs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


# -- report -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16, help="jobs per worker process, ours and tuned arq")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args(argv)

    from bench._arq_env import arq_version
    from bench._common import Row, quiet_logging, report

    quiet_logging()
    rows: list[Row] = []
    details: dict[str, Any] = {"jobs": args.jobs, "concurrency": args.concurrency, "arq": arq_version(),
                               "runs": {}}
    for workers in (1, 2):
        ours = _ours(args.redis, workers, args.jobs, args.concurrency)
        arq_default = _arq(args.redis, workers, args.jobs, max_jobs=10, poll_delay=0.5)
        arq_tuned = _arq(args.redis, workers, args.jobs, max_jobs=args.concurrency, poll_delay=0.01)
        rate = {name: r["jobs"] / r["seconds"] for name, r in
                (("ours", ours), ("arq_default", arq_default), ("arq_tuned", arq_tuned))}
        details["runs"][f"{workers}_workers"] = {"ours": ours, "arq_default": arq_default, "arq_tuned": arq_tuned}
        for baseline, label in (("arq_default", "arq default"), ("arq_tuned", "arq tuned")):
            rows.append(Row(bench="queue", metric=f"no-op jobs/s, {workers} worker(s)", ours=rate["ours"],
                            unit="jobs/s", baseline=rate[baseline], baseline_name=label,
                            target="ratio >= 1", ok=rate["ours"] >= rate[baseline]))
    one, two = (details["runs"][f"{w}_workers"]["ours"] for w in (1, 2))
    scaling = (two["jobs"] / two["seconds"]) / (one["jobs"] / one["seconds"])
    rows.append(Row(bench="queue", metric="ours: 2 workers / 1 worker", ours=scaling, unit="x",
                    target="> 1 (grows with workers)", ok=scaling > 1))
    report("queue", rows, details)


if __name__ == "__main__":
    main()
