"""Partitions for real (issue 13 item 3): Redis and two worker processes on their own network
namespaces (:mod:`tests.queue.netns`), links cut and degraded mid-job, then restored.

The workers run the real engine with checkpointed, counted steps
(:mod:`tests.queue.engine_app`); the test reads Redis through a unix socket no cut touches. Every
test runs on one Redis and on a Redis Cluster (three masters in the Redis namespace, which the
test reaches over a link of its own that no cut touches).
Each test prints its counts (quoted in the issue's closing note).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import Job, JobQueue, QueueSettings
from orchestrator.redis.connection import connect
from tests.conftest import TOPOLOGIES, parametrize_topology
from tests.queue.engine_app import STEPS, done_key, executions
from tests.queue.netns import Lab, WorkerProcess, unavailable
from tests.queue.netns_app import HOLD_ENV, finishing_key

BOUND = 60.0
"""Seconds any one wait of these tests may take."""
ENGINE = "tests.queue.engine_app:make_orchestrator"
REFUSALS = ("write.refused", "job.finish_refused", "job.retry_refused", "job.release_refused")
"""Log events of a stale attempt's write that Redis refused."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_topology(metafunc, TOPOLOGIES)


@pytest.fixture
async def lab(tmp_path: Path, redis_topology: str) -> AsyncIterator[Lab]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    async with Lab.start(tmp_path, workers=("a", "b"), cluster=redis_topology == "cluster") as lab:
        yield lab


@pytest.fixture
async def client(lab: Lab) -> AsyncIterator[aioredis.Redis]:
    client = connect(lab.redis_url) if lab.cluster else aioredis.Redis(unix_socket_path=str(lab.socket))
    yield client
    await client.aclose()


def _env(keyspace: KeySpace, visibility_timeout: float, *, socket_timeout: float = 2.0,
         extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix,
        "ORCHESTRATOR_QUEUE__VISIBILITY_TIMEOUT": str(visibility_timeout),
        "ORCHESTRATOR_QUEUE__POLL_INTERVAL": "0.05",
        "ORCHESTRATOR_QUEUE__WORKER_CONCURRENCY": "2",
        "ORCHESTRATOR_REDIS__CONNECT_TIMEOUT": "0.5",
        "ORCHESTRATOR_REDIS__SOCKET_TIMEOUT": str(socket_timeout),
        **(extra or {}),
    }


def _queue(client: aioredis.Redis, keyspace: KeySpace, visibility_timeout: float) -> JobQueue:
    return JobQueue(client, keyspace, QueueSettings(visibility_timeout=visibility_timeout, result_ttl=600,
                                                    events_ttl=600, poll_interval=0.05))


async def _until(check: Callable[[], Awaitable[bool]], what: str, within: float = BOUND) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {within:g}s waiting for {what}"
        await asyncio.sleep(0.02)


async def _up(lab: Lab, client: aioredis.Redis, keyspace: KeySpace, host: str, name: str, env: dict[str, str],
              app: str = ENGINE) -> WorkerProcess:
    """A worker process on ``host``, once it has announced itself in Redis."""
    worker = await lab.spawn(host, name, app, env)

    async def announced() -> bool:
        assert worker.proc.returncode is None, f"worker {name} exited: {worker.log.read_text()[-2000:]}"
        return bool(await client.exists(keyspace.worker(name)))

    await _until(announced, f"worker {name} to start")
    return worker


async def _executions(client: aioredis.Redis, keyspace: KeySpace, job_id: str) -> dict[str, int]:
    return {s: await executions(client, keyspace, job_id, s) for s in STEPS}


async def _ends(queue: JobQueue, job_id: str) -> list[tuple[str, object]]:
    return [(e.type, e.data.get("status")) async for _, e in queue.events(job_id) if e.terminal]


async def _nothing_left(client: aioredis.Redis, keyspace: KeySpace) -> None:
    pending = await client.xpending(keyspace.jobs_stream, keyspace.jobs_group)
    assert pending["pending"] == 0, pending
    assert await client.xlen(keyspace.jobs_stream) == 0


async def test_a_worker_partitioned_mid_job_loses_it_and_nothing_runs_twice(
    lab: Lab, client: aioredis.Redis, keyspace: KeySpace
) -> None:
    # a long socket timeout: the writes the stopped run still sends wait out the cut, and are answered after it
    env = _env(keyspace, 1.5, socket_timeout=10.0)
    queue = _queue(client, keyspace, 1.5)
    worker_a = await _up(lab, client, keyspace, "a", "a", env)
    job_id = await queue.submit("counted", {"tag": 7, "delay": 1.5})

    async def a_runs_it() -> bool:
        return (await queue.status(job_id)).worker == "a"

    await _until(a_runs_it, "worker a to take the job")
    worker_b = await _up(lab, client, keyspace, "b", "b", env)  # b is up before the cut: it reclaims within ~vt

    async def a_mid_step() -> bool:
        done = await client.hkeys(done_key(keyspace, job_id))
        calls = await _executions(client, keyspace, job_id)
        return b"s0" in done and sum(calls.values()) > len(done)

    await _until(a_mid_step, "worker a to be in the middle of a step after s0")
    done = await client.hkeys(done_key(keyspace, job_id))
    completed_before = {k.decode() if isinstance(k, bytes) else k for k in done}
    assert completed_before != set(STEPS), "worker a finished the job before the cut"
    await lab.cut("a")
    cut_at = time.monotonic()

    async def b_took_it() -> bool:
        job = await queue.status(job_id)
        return job.attempts == 2 and job.worker == "b"

    await _until(b_took_it, "worker b to reclaim the job")
    reclaimed_after = time.monotonic() - cut_at
    await lab.heal("a")  # a's held packets are delivered now: its writes must be refused
    [job] = await queue.wait([job_id], timeout=BOUND)
    assert (job.status, job.attempts, job.worker) == ("completed", 2, "b")

    async def a_said_so() -> bool:
        lost = [e.data async for _, e in queue.events(job_id) if e.type == "run.lease_lost"]
        return worker_a.count("job.lease_lost") >= 1 and bool(lost)

    await _until(a_said_so, "worker a to report its lost lease")
    assert await worker_b.stop() == 0
    again = await queue.submit("counted", {"tag": 8})  # the stale worker takes new jobs
    [next_job] = await queue.wait([again], timeout=BOUND)
    assert (next_job.status, next_job.attempts, next_job.worker) == ("completed", 1, "a")

    result = await queue.result(job_id)
    assert result.ok and result.answer == {"tag": 7}
    calls = await _executions(client, keyspace, job_id)
    for step in completed_before:
        assert calls[step] == 1, f"{step} completed before the partition and ran again: {calls}"
    assert all(1 <= n <= 2 for n in calls.values()), calls
    assert await _ends(queue, job_id) == [("run.finished", "completed")]  # a's end never reached the stream
    lost = [(e.data["worker"], e.data["attempt"]) async for _, e in queue.events(job_id) if e.type == "run.lease_lost"]
    assert lost == [("a", 1)]
    assert await queue.store.get_run(job_id) == result
    assert worker_a.count("job.finished") == 1  # only the new job: a never recorded the one it lost
    await _nothing_left(client, keyspace)
    refused, lease_lost = worker_a.count(*REFUSALS), worker_a.count("job.lease_lost")
    assert refused >= 1, "the stopped run's writes in flight at the cut were not refused"
    print(f"\nnetns partition: job completed once by b (attempt 2), reclaimed {reclaimed_after:.1f}s after the cut; "
          f"step executions {calls}; completed before the cut and not re-run: {sorted(completed_before)}; "
          f"run.finished 1; pending 0; worker a: job.lease_lost {lease_lost}, writes refused {refused}; "
          f"then a completed a new job (attempt 1)")


async def test_a_slow_lossy_link_completes_a_batch_exactly_once(
    lab: Lab, client: aioredis.Redis, keyspace: KeySpace
) -> None:
    n = 20
    # the default timeouts (a connect timeout under the 1 s SYN retransmission fails every
    # connection whose SYN is lost) and the default attempt budget (3)
    env = {**_env(keyspace, 3.0), "ORCHESTRATOR_REDIS__CONNECT_TIMEOUT": "2",
           "ORCHESTRATOR_REDIS__SOCKET_TIMEOUT": "10"}
    queue = _queue(client, keyspace, 3.0)
    workers = [await _up(lab, client, keyspace, host, host, env) for host in ("a", "b")]
    how = {host: await lab.degrade(host, delay_ms=20, loss=0.05) for host in ("a", "b")}
    started = time.monotonic()
    ids = [await queue.submit("counted", {"tag": i}) for i in range(n)]
    jobs: list[Job] = await queue.wait(ids, timeout=BOUND)
    elapsed = time.monotonic() - started
    stats = {host: await lab.stats(host) for host in ("a", "b")}
    for host in ("a", "b"):
        await lab.restore(host)

    assert [j.status for j in jobs] == ["completed"] * n, [(j.id, j.status, j.error) for j in jobs
                                                           if j.status != "completed"]
    reruns = double_ends = 0
    for i, job in enumerate(jobs):
        assert (await queue.result(job.id)).answer == {"tag": i}
        ends = await _ends(queue, job.id)
        # the end is written with the outcome, once, however many attempts got that far (test_run_end.py)
        assert ends == [("run.finished", "completed")], (job.id, ends)
        double_ends += len(ends) - 1
        calls = await _executions(client, keyspace, job.id)
        if job.attempts == 1:
            assert set(calls.values()) == {1}, (job.id, calls)
        assert all(1 <= c <= job.attempts for c in calls.values()), (job.id, job.attempts, calls)
        reruns += sum(calls.values()) - len(STEPS)
    await _nothing_left(client, keyspace)
    by_worker = {w.name: sum(j.worker == w.name for j in jobs) for w in workers}
    attempts = sum(j.attempts for j in jobs)
    lost = sum(w.lines("job.lease_lost", '"recorded": false') for w in workers)  # one per attempt stopped
    dropped = {host: _dropped(text) for host, text in stats.items()}
    # ~1 attempt per job: renewals are never cancelled and hedged, so one lost packet (or a slow
    # reply) costs no lease. Before, 2 to 5 leases were lost per run on a cluster (up to 28
    # attempts for 20 jobs); now 0 in every run measured on both topologies. One spare attempt
    # allows a run retried after a Redis timeout on this link (or a rare lost lease) without
    # hiding a regression of that size.
    assert attempts <= n + 1 and lost <= 1, (attempts, lost)
    print(f"\nnetns lossy link ({how}, 20 ms/KB, 5% loss both ways): {n}/{n} completed once in {elapsed:.1f}s "
          f"(by worker {by_worker}); attempts {attempts}; step re-executions {reruns}; leases lost {lost}; "
          f"run.finished {n + double_ends} (jobs that ended their stream twice: {double_ends}); pending 0; "
          f"packets dropped by the link {dropped}")


def _dropped(tc_stats: str) -> int:
    """Packets dropped, summed over the root qdiscs of ``tc -s qdisc`` output."""
    total, root = 0, False
    for line in tc_stats.splitlines():
        if line.startswith("qdisc"):
            root = " root " in line
        elif root and "dropped" in line:
            total += int(line.split("dropped", 1)[1].split(",")[0])
    return total


async def test_a_cut_at_finish_shorter_than_the_retry_window_does_not_rerun_the_job(
    lab: Lab, client: aioredis.Redis, keyspace: KeySpace
) -> None:
    """FINISH is retried through the cut (3 s; visibility timeout 6 s, retry window 30 s): by the
    worker on one Redis, by redis-py's cluster client (which retries and re-maps the cluster
    itself) on a cluster; either way the job is still running when the link heals."""
    cut_for = 3.0
    env = _env(keyspace, 6.0, extra={HOLD_ENV: "1.0"})
    queue = _queue(client, keyspace, 6.0)
    app = "tests.queue.netns_app:make_runner"
    workers = {w.host: w for w in [await _up(lab, client, keyspace, h, h, env, app) for h in ("a", "b")]}
    job_id = await queue.submit("counted", {"tag": 9})

    async def finishing() -> bool:
        return bool(await client.get(finishing_key(keyspace, job_id)))

    await _until(finishing, "the run to end")
    host = (await queue.status(job_id)).worker
    assert host in workers
    await lab.cut(host)  # the run has returned; its FINISH is sent after the 1 s hold: into the cut
    await asyncio.sleep(cut_for)
    held = (await queue.status(job_id)).status  # the cut held the FINISH back: not finished yet
    await lab.heal(host)
    [job] = await queue.wait([job_id], timeout=BOUND)

    assert (job.status, job.attempts, job.worker) == ("completed", 1, host)
    calls = await _executions(client, keyspace, job_id)
    assert set(calls.values()) == {1}, calls
    assert int(await client.get(finishing_key(keyspace, job_id)) or 0) == 1  # the run ran once
    assert await _ends(queue, job_id) == [("run.finished", "completed")]
    assert (await queue.result(job_id)).answer == {"tag": 9}
    await _nothing_left(client, keyspace)
    retries = workers[host].count("job.finish_retry")
    assert held == "running" and (retries >= 1 or lab.cluster), "the cut missed the FINISH"
    assert sum(w.count("job.lease_lost", *REFUSALS) for w in workers.values()) == 0
    print(f"\nnetns cut at FINISH: {cut_for:g}s cut of worker {host}'s link; FINISH sent again {retries} time(s); "
          f"completed once (attempt 1), step executions {calls}, run.finished 1, pending 0, leases lost 0")
