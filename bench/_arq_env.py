"""arq in its own virtualenv (it pins ``redis<6``; ours needs ``redis>=5`` with newer APIs).

``arq_python()`` creates ``bench/.arq-venv`` on first use (``pip install arq``; the venv
holds a ``.gitignore`` of ``*`` so git never sees it) and writes the small arq worker and
enqueuer script the queue benchmark runs there as subprocesses.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".arq-venv"
SCRIPT = VENV / "arq_bench.py"

_SCRIPT = '''"""arq side of bench/queue.py: ``worker URL QUEUE MAX_JOBS POLL_DELAY`` or ``enqueue URL QUEUE N``."""
import asyncio, json, sys, time

from arq.connections import RedisSettings, create_pool
from arq.constants import result_key_prefix
from arq.jobs import Job
from arq.worker import Worker


async def noop(ctx):
    return None


async def ready(ctx):
    print("ready", flush=True)


def worker(url, queue, max_jobs, poll_delay):
    Worker(functions=[noop], redis_settings=RedisSettings.from_dsn(url), queue_name=queue,
           max_jobs=int(max_jobs), poll_delay=float(poll_delay), keep_result=300,
           on_startup=ready, handle_signals=True).run()


async def enqueue(url, queue, n):
    n = int(n)
    redis = await create_pool(RedisSettings.from_dsn(url), default_queue_name=queue)
    gate = asyncio.Semaphore(100)

    async def one():
        async with gate:
            return (await redis.enqueue_job("noop")).job_id

    started = time.perf_counter()
    ids = await asyncio.gather(*(one() for _ in range(n)))
    submitted = time.perf_counter() - started
    keys = [result_key_prefix + i for i in ids]
    deadline = time.monotonic() + 600
    pending = list(keys)
    while pending:
        flags = []
        for i in range(0, len(pending), 500):
            async with redis.pipeline(transaction=False) as pipe:
                for key in pending[i:i + 500]:
                    pipe.exists(key)
                flags += await pipe.execute()
        pending = [key for key, flag in zip(pending, flags) if not flag]
        if time.monotonic() > deadline:
            raise SystemExit("arq: jobs did not finish within 600s")
        await asyncio.sleep(0.01)
    results = await asyncio.gather(*(Job(i, redis, _queue_name=queue).result_info() for i in ids))
    elapsed = time.perf_counter() - started
    assert all(r is not None and r.success for r in results)
    for i in range(0, n, 500):
        await redis.delete(*keys[i:i + 500])
    await redis.aclose()
    print(json.dumps({"seconds": elapsed, "submit_seconds": submitted, "jobs": n}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(*sys.argv[2:])
    else:
        asyncio.run(enqueue(*sys.argv[2:]))
'''


def arq_python() -> Path:
    """The venv's interpreter, with arq installed and the bench script written."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} (pip install arq) ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        (VENV / ".gitignore").write_text("*\n")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "arq"], check=True)
    SCRIPT.write_text(_SCRIPT)
    return python


def arq_version() -> str:
    out = subprocess.run([str(arq_python()), "-c", "import arq, redis; print(arq.VERSION, redis.__version__)"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()
