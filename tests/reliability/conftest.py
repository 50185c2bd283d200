"""Worker subprocesses (``orchestrator worker --app tests.reliability.app:make_orchestrator``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.reliability.app:make_orchestrator"


class WorkerPool:
    """Named worker subprocesses on one Redis and key prefix; start, SIGKILL, restart, stop.

    ``app`` is the workers' ``--app`` factory; ``env`` adds to their environment.
    """

    def __init__(self, redis_url: str, prefix: str, logs: Path, *, concurrency: int = 4,
                 visibility_timeout: float = 1.0, max_attempts: int = 10, app: str = APP,
                 env: Mapping[str, str] | None = None) -> None:
        self.logs = logs
        self.concurrency = concurrency
        self.app = app
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.log_paths: dict[str, Path] = {}
        self.starts = 0
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")},
            "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "ORCHESTRATOR_PROFILE": "embedded",
            "ORCHESTRATOR_KEY_PREFIX": prefix,
            "ORCHESTRATOR_QUEUE__VISIBILITY_TIMEOUT": str(visibility_timeout),
            "ORCHESTRATOR_QUEUE__MAX_ATTEMPTS": str(max_attempts),
            "ORCHESTRATOR_QUEUE__RESULT_TTL": "600", "ORCHESTRATOR_QUEUE__EVENTS_TTL": "600",
            **(env or {}),
        }

    async def start(self, name: str) -> None:
        self.starts += 1
        self.log_paths[name] = self.logs / f"{name}-{self.starts}.log"
        log = self.log_paths[name].open("wb")
        with log:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "orchestrator", "worker", "--app", self.app, "--name", name,
                "--concurrency", str(self.concurrency), "--grace", "2",
                cwd=self.logs, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )

    async def started(self, name: str, within: float = 90) -> None:
        """Wait until worker ``name`` has reached Redis (it logs ``worker.started`` after its first
        heartbeat); a loaded machine can take many seconds to import and build the app."""
        deadline = time.monotonic() + within
        while "worker.started" not in self.log_paths[name].read_text(errors="replace"):
            assert self.alive(name), f"worker {name} exited before it started:\n{self.output()}"
            assert time.monotonic() < deadline, f"worker {name} not started within {within}s:\n{self.output()}"
            await asyncio.sleep(0.1)

    async def kill(self, name: str) -> None:
        """SIGKILL one worker (no chance to clean up) and reap it."""
        proc = self.procs.pop(name)
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].returncode is None

    async def stop(self) -> None:
        """SIGTERM every worker, SIGKILL any still running after 20 s."""
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 10)
        self.procs.clear()

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.logs.glob("*.log")))


PoolFactory = Callable[..., WorkerPool]


@pytest.fixture
async def worker_pool(tmp_path: Path) -> AsyncIterator[PoolFactory]:
    """``worker_pool(redis_url, prefix, **options)``; every worker is stopped afterwards."""
    pools: list[WorkerPool] = []

    def make(redis_url: str, prefix: str, **options: Any) -> WorkerPool:
        pool = WorkerPool(redis_url, prefix, tmp_path, **options)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.stop()
