"""Start ``orchestrator serve`` and ``orchestrator worker`` (the interfaces' test app) as real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from orchestrator.keys import KeySpace
from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.interfaces.app:build"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (``process`` must stay alive)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args} exited with {process.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {seconds}s")


@contextmanager
def running(command: Sequence[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running until the block ends (SIGTERM, then SIGKILL after 10 s), listening on ``port``."""
    process = subprocess.Popen(list(command), cwd=ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, process)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def app_env(keyspace: KeySpace, **extra: str) -> dict[str, str]:
    """The test app on the real Redis, under the test's key prefix, with no waiting in its slow workflow."""
    return {"ORCH_TEST_REDIS_URL": REDIS_URL, "ORCH_TEST_KEY_PREFIX": keyspace.prefix, "ORCH_TEST_DELAY": "0",
            "ORCHESTRATOR_REDIS_URL": REDIS_URL, "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix,
            "PYTHONPATH": str(ROOT), **extra}


def serve(port: int) -> list[str]:
    return [sys.executable, "-m", "orchestrator", "serve", "--app", APP, "--port", str(port)]


def worker(metrics_port: int | None = None) -> list[str]:
    extra = ["--metrics-port", str(metrics_port)] if metrics_port is not None else []
    return [sys.executable, "-m", "orchestrator", "worker", "--app", APP, *extra]


__all__ = ["ROOT", "app_env", "free_port", "running", "serve", "wait_listening", "worker"]
