"""A worker process whose llama.cpp build dies of SIGILL: the job fails with the reason, the worker lives.

The worker's ``PYTHONPATH`` starts with a llama_cpp package whose decode executes an undefined
instruction (tests/models/fake_llama_cpp/sigill), so the probe child that loads Gemma before
the worker does is killed by the CPU's SIGILL, as a natively built llama.cpp is on a CPU that
lacks what it was built for.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings
from tests.conftest import REDIS_URL
from tests.reliability.conftest import ROOT, WorkerPool

FAKES = Path(__file__).parent / "fake_llama_cpp"


@pytest.mark.allow_model_requests  # the worker's model is real code; only llama_cpp is the stand-in
async def test_a_sigill_in_the_model_fails_the_job_with_the_fix_and_the_worker_takes_the_next_job(
    redis_client: aioredis.Redis, keyspace: KeySpace, tmp_path: Path
) -> None:
    fake = shutil.copytree(FAKES / "sigill", tmp_path / "sigill")
    (tmp_path / "logs").mkdir()
    pool = WorkerPool(REDIS_URL, keyspace.prefix, tmp_path / "logs", concurrency=1,
                      app="tests.models.llamacpp_app:make_orchestrator",
                      env={"PYTHONPATH": f"{fake}{os.pathsep}{ROOT}", "XDG_CACHE_HOME": str(tmp_path / "cache")})
    queue = JobQueue(redis_client, keyspace, QueueSettings(result_ttl=600, events_ttl=600))
    try:
        await pool.start("w")
        doomed = await queue.submit("gemma", {"text": "hello"})
        failed = await queue.result(doomed, wait=True, timeout=90)
        job = await queue.status(doomed)
        assert (job.status, job.attempts, job.worker) == ("failed", 1, "w"), pool.output()
        assert job.error == failed.error and job.error is not None
        assert "SIGILL" in job.error and "instructions this CPU cannot run" in job.error
        assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in job.error and "--no-cache-dir" in job.error
        assert pool.alive("w"), pool.output()

        after = await queue.submit("pause", {"value": 7})
        done = await queue.result(after, wait=True, timeout=60)
        assert (done.status, done.answer) == ("completed", {"value": 7}), pool.output()
        assert (await queue.status(after)).worker == "w" and pool.alive("w")
    finally:
        await pool.stop()
    assert "worker.stopped" in pool.output()
