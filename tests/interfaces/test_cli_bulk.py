"""``orchestrator submit WORKFLOW --input-file`` queues a file as one batch (or refuses it whole,
naming the bad rows' lines) and ``orchestrator jobs wait`` follows jobs to their end, non-zero
when some failed. Real CLI processes, real Redis; the jobs run on an in-process worker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, Worker
from tests.conftest import REDIS_URL
from tests.queue.app import StepRunner
from tests.queue.conftest import FAST, running

ROOT = Path(__file__).resolve().parents[2]


async def cli(keyspace: KeySpace, *args: str) -> tuple[int, str, str]:
    """Run ``python -m orchestrator ARGS`` without blocking the loop (the worker runs on it)."""
    env = {**os.environ, "ORCHESTRATOR_REDIS_URL": REDIS_URL, "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "orchestrator", *args, cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_file_is_queued_as_one_batch_and_waited_for(
    tmp_path: Path, keyspace: KeySpace, redis_client: aioredis.Redis
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"answer": i}) + "\n" + ("\n" if i == 2 else "") for i in range(5)))
    code, out, err = await cli(keyspace, "submit", "steps", "--input-file", str(items), "--json")
    assert code == 0, err
    submitted = json.loads(out)
    batch, ids = submitted["batch"], submitted["job_ids"]
    assert len(set(ids)) == 5
    code, out, err = await cli(keyspace, "submit", "steps", "--input-file", str(items), "--batch", batch, "--json")
    assert (code, json.loads(out)["job_ids"]) == (0, ids)  # the same batch again: the same jobs, none twice

    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        assert await queue.batch_jobs(batch) == ids
        async with running(Worker(StepRunner(redis_client, keyspace), queue, name="w")):
            code, out, err = await cli(keyspace, "jobs", "wait", "--batch", batch, "--json", "--timeout", "60")
    finally:
        await queue.aclose()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted((line["status"], line["answer"]) for line in lines) == [("completed", i) for i in range(5)]
    assert sorted(line["job_id"] for line in lines) == sorted(ids)
    assert "5/5 items" in err and "0 failed" in err


async def test_wait_exits_non_zero_and_names_the_jobs_that_failed(
    keyspace: KeySpace, redis_client: aioredis.Redis
) -> None:
    queue = JobQueue(redis_client, keyspace, FAST)
    try:
        good, bad = await queue.submit("steps"), await queue.submit("boom")
        async with running(Worker(StepRunner(redis_client, keyspace), queue, name="w")):
            code, _out, err = await cli(keyspace, "jobs", "wait", good, bad, "--timeout", "60")
    finally:
        await queue.aclose()
    assert code == 1
    assert "2/2 items" in err and "1 failed" in err
    assert f"{bad} failed: dead-lettered after 3 attempts; last error: RuntimeError: boom" in err


async def test_a_bad_row_refuses_the_whole_file_and_nothing_is_queued(
    tmp_path: Path, keyspace: KeySpace, redis_client: aioredis.Redis
) -> None:
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text('{"ticket": "card charged twice"}\n\n{"tickt": "typo"}\n{"id": "x", "ticket": "a"}\n'
                       '{"id": "x", "ticket": "b"}\n')
    code, out, err = await cli(keyspace, "submit", "ticket_triage", "--input-file", str(tickets))
    assert (code, out) == (2, "")
    assert "2 of 4 rows refused, nothing queued" in err
    assert "line 3: " in err and "'tickt'" in err
    assert "line 5: id 'x' again (first on line 4)" in err
    broken = tmp_path / "broken.csv"
    broken.write_text("ticket\nfine\ntoo,many\n")
    code, out, err = await cli(keyspace, "submit", "ticket_triage", "--input-file", str(broken))
    assert (code, out) == (2, "")
    assert "broken.csv:3: more values than the header has columns" in err
    assert [key async for key in redis_client.scan_iter(match=f"{keyspace.prefix}:*")] == []


async def test_wait_needs_ids_or_a_batch(keyspace: KeySpace, redis_client: aioredis.Redis) -> None:
    code, _out, err = await cli(keyspace, "jobs", "wait")
    assert code == 2 and "give job ids or --batch ID" in err
    code, _out, err = await cli(keyspace, "jobs", "wait", "--batch", "nope")
    assert code != 0 and "unknown batch" in err
