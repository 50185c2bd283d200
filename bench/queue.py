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
    python -m bench.queue --only recovery [--before <git rev>]
    python -m bench.queue --cluster [--jobs 2000] [--shards 6]

Cluster mode (issue 13): ours on one Redis (one shard) beside ours on a local Redis Cluster of
the benchmark's own (3 masters, 3 replicas on free loopback ports, ``tests/redis_cluster.py``;
``--shards`` queue shards spread over its masters), with 1, 2 and 4 worker processes each; on a
2-core machine all of it shares the same cores, so this shows the cost of the cluster's routing
and sharded reads, not the throughput of three machines.

Recovery (issue 13): seconds to drain 500 jobs parked by a failed START. A ``redis-server`` of
the benchmark's own (a free port on 127.0.0.1, so the shared Redis is never put at maxmemory)
holds 500 queued no-op jobs; one worker process (``--concurrency 4``, default visibility
timeout of 30 s) is stopped (SIGSTOP) while they are queued and Redis is set to
``maxmemory 1`` (noeviction), then continued: its reads work, its STARTs fail. After
``--parked`` seconds memory is restored; the clock runs from then until every job is
completed (or ``--cap`` seconds). With ``--before <rev>``, the worker of that revision (its
tree exported with ``git archive``) runs the same scenario first, side by side.

Prints a table and writes ``bench/results/queue.json`` (``queue_recovery.json`` with
``--only recovery``). Run it as a module: a file named
``queue.py`` run as a script would shadow the standard library's ``queue``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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


def _ours(url: str, workers: int, jobs: int, concurrency: int, shards: int = 1) -> dict[str, float]:
    from orchestrator.keys import KeySpace

    keys = KeySpace.for_url(f"bench-queue-{uuid.uuid4().hex[:8]}", url, shards)
    env = {**os.environ, "REDIS_URL": url, "ORCHESTRATOR_KEY_PREFIX": keys.prefix,
           "ORCHESTRATOR_QUEUE__SHARDS": str(shards)}
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


# -- recovery -----------------------------------------------------------------


_RECOVERY_PREFIX = "bench-recovery"


def _recovery(tree: Path, jobs: int, parked: float, cap: float) -> dict[str, float]:
    """Drain ``jobs`` parked by failed STARTs with the worker of ``tree``; see the module docstring."""
    import shutil
    import socket
    import tempfile

    if shutil.which("redis-server") is None:
        raise SystemExit("the recovery benchmark needs redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", data,
                                   "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        env = {**os.environ, "REDIS_URL": url, "ORCHESTRATOR_KEY_PREFIX": _RECOVERY_PREFIX, "PYTHONPATH": str(tree)}
        time.sleep(0.5)  # listening before the worker's first call
        worker = subprocess.Popen([sys.executable, "-m", "orchestrator", "worker", "--app",
                                   "bench.queue:make_noop_runner", "--concurrency", "4", "--name", "recovering",
                                   "--log-level", "error"], cwd=tree, env=env, stderr=subprocess.DEVNULL)
        try:
            return asyncio.run(_recovery_measure(worker, url, jobs, parked, cap))
        finally:
            worker.send_signal(signal.SIGCONT)
            worker.terminate()
            worker.wait(60)
            server.terminate()
            server.wait(30)


async def _recovery_measure(worker: subprocess.Popen[bytes], url: str, jobs: int, parked: float,
                            cap: float) -> dict[str, float]:
    from orchestrator.keys import KeySpace
    from orchestrator.queue import JobQueue, QueueSettings

    keys = KeySpace(_RECOVERY_PREFIX)
    queue = JobQueue.from_url(url, keys, QueueSettings(result_ttl=600, events_ttl=600))
    try:
        for _ in range(600):  # bounded: the worker is up once its heartbeat is there
            if await queue.client.exists(keys.worker("recovering")):
                break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("the recovery worker did not start")
        worker.send_signal(signal.SIGSTOP)
        ids = [await queue.submit("noop") for _ in range(jobs)]
        await queue.client.config_set("maxmemory-policy", "noeviction")
        await queue.client.config_set("maxmemory", "1")
        worker.send_signal(signal.SIGCONT)
        await asyncio.sleep(parked)
        pending: Any = await queue.client.xpending(keys.jobs_stream, keys.jobs_group)
        await queue.client.config_set("maxmemory", "0")
        restored = time.perf_counter()
        drained = await _drained(queue, ids, cap)
        seconds = time.perf_counter() - restored
        return {"jobs": jobs, "parked_pending": int(pending["pending"]), "completed": drained,
                "seconds": seconds if drained == jobs else float("nan"), "cap_seconds": cap,
                "projected_seconds": seconds * jobs / max(drained, 1)}
    finally:
        await queue.aclose()


async def _drained(queue: Any, ids: list[str], cap: float) -> int:
    """How many of ``ids`` completed within ``cap`` seconds (all of them, as soon as they have)."""
    from orchestrator.errors import JobError

    try:
        await queue.wait(ids, timeout=cap)
        return len(ids)
    except JobError:
        return sum(job.status == "completed" for job in await queue.list(limit=len(ids)))


def _exported(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev``, exported into ``into`` (no worktree, no checkout)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _recovery_rows(before: str | None, jobs: int, parked: float, cap: float) -> tuple[list[Any], dict[str, Any]]:
    import tempfile

    from bench._common import Row

    details: dict[str, Any] = {"parked_seconds": parked}
    after = _recovery(ROOT, jobs, parked, cap)
    details["after"] = after
    row = Row(bench="queue", metric=f"recovery: s to drain {jobs} jobs parked by a failed START", ours=after["seconds"],
              unit="s", target="< 60 (no waiting for leases)", ok=after["completed"] == jobs and after["seconds"] < 60)
    if before is not None:
        with tempfile.TemporaryDirectory() as tree:
            old = _recovery(_exported(before, Path(tree)), jobs, parked, cap)
        details["before"] = {"rev": before, **old}
        row.baseline, row.baseline_name = old["projected_seconds"], f"{before[:7]}, projected"
        row.extra = {"before_completed_within_cap": old["completed"], "cap_seconds": cap}
    return [row], details


# -- cluster ------------------------------------------------------------------


def _cluster_rows(single_url: str, jobs: int, concurrency: int, shards: int) -> tuple[list[Any], dict[str, Any]]:
    import tempfile

    from bench._common import Row
    from tests.redis_cluster import LocalCluster

    rows: list[Row] = []
    details: dict[str, Any] = {"jobs": jobs, "concurrency": concurrency, "shards": shards, "runs": {}}
    with tempfile.TemporaryDirectory() as directory:
        cluster = LocalCluster.start(Path(directory))
        try:
            for workers in (1, 2, 4):
                single = _ours(single_url, workers, jobs, concurrency)
                clustered = _ours(cluster.url, workers, jobs, concurrency, shards)
                details["runs"][f"{workers}_workers"] = {"single": single, "cluster": clustered}
                rate_single, rate_cluster = (r["jobs"] / r["seconds"] for r in (single, clustered))
                rows.append(Row(bench="queue", metric=f"cluster: no-op jobs/s, {workers} worker(s)", ours=rate_cluster,
                                unit="jobs/s", baseline=rate_single, baseline_name="one Redis",
                                target="measured (one machine)", ok=True))
        finally:
            cluster.stop()
    return rows, details


# -- report -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16, help="jobs per worker process, ours and tuned arq")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--only", choices=("all", "throughput", "recovery"), default="all")
    parser.add_argument("--before", help="git revision whose worker also runs the recovery scenario")
    parser.add_argument("--parked", type=float, default=5.0, help="seconds Redis stays at maxmemory")
    parser.add_argument("--cap", type=float, default=120.0, help="longest wait for the recovery drain, seconds")
    parser.add_argument("--cluster", action="store_true", help="ours on one Redis beside ours on a local cluster")
    parser.add_argument("--shards", type=int, default=6, help="queue shards on the cluster")
    args = parser.parse_args(argv)
    if args.cluster:
        from bench._common import quiet_logging, report

        quiet_logging()
        cluster_rows, cluster_details = _cluster_rows(args.redis, args.jobs, args.concurrency, args.shards)
        report("queue_cluster", cluster_rows, cluster_details)
        return
    if args.only == "recovery":
        from bench._common import quiet_logging, report

        quiet_logging()
        rows, details = _recovery_rows(args.before, 500, args.parked, args.cap)
        report("queue_recovery", rows, details)
        return

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
    if args.only == "all":
        recovery, details["recovery"] = _recovery_rows(args.before, 500, args.parked, args.cap)
        rows += recovery
    report("queue", rows, details)


if __name__ == "__main__":
    main()
