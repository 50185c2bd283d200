"""Start and stop ``python -m llama_cpp.server`` processes serving Gemma on free loopback ports.

Shared by the integration tests and ``bench/replicas.py``, so it does not depend on pytest.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVER_START_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def launch_llama_server(gemma_path: Path, log_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m llama_cpp.server`` on Gemma at a free loopback port and wait until it
    answers; returns the process and its ``/v1`` base URL. Raises RuntimeError, with the end of
    the server's log, if it exits or does not answer within ``SERVER_START_TIMEOUT``."""
    port = _free_port()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_path), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", *extra],
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process, base_url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_llama_server(process)
            raise RuntimeError(f"llama_cpp.server did not answer within {SERVER_START_TIMEOUT:g}s:\n"
                               f"{log_path.read_text()[-2000:]}")
        time.sleep(0.25)


def stop_llama_server(process: subprocess.Popen[bytes]) -> None:
    """Stop a server :func:`launch_llama_server` started (politely, then for good)."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


__all__ = ["SERVER_START_TIMEOUT", "launch_llama_server", "stop_llama_server"]
