"""Slow and silent clients against a real ``orchestrator serve``: closed within the bounds.

One bounded script opens idle sockets, sockets that trickle a request head, unauthenticated
requests that stall their (large) bodies and authenticated ones that trickle theirs, against a
server with one-second header and body timeouts. Each must be answered or closed well within
its bound, the server's memory must not grow with the stalled bodies, and the connection cap
must turn excess connections away (503) until the silent ones are gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.interfaces.conftest import KEY, free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0
"""The server's header and body timeouts, in seconds."""
GRACE = 8.0
"""How long past its bound a connection may take to be closed (a shared, busy machine)."""
MAX_CONNECTIONS = 60


@pytest.fixture
def server() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_TEST_", "ORCHESTRATOR_"))}
    env.pop("REDIS_URL", None)
    env.update({"PYTHONPATH": str(ROOT), "ORCH_TEST_API_KEYS": KEY, "ORCHESTRATOR_HTTP__HEADER_TIMEOUT": str(TIMEOUT),
                "ORCHESTRATOR_HTTP__BODY_TIMEOUT": str(TIMEOUT), "ORCHESTRATOR_HTTP__KEEP_ALIVE_TIMEOUT": "1",
                "ORCHESTRATOR_HTTP__MAX_CONNECTIONS": str(MAX_CONNECTIONS)})
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "serve", "--app", "tests.interfaces.app:build",
                                "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def connect(port: int, head: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    if head:
        sock.sendall(head)
    return sock


def closed(sock: socket.socket) -> tuple[bool, bytes]:
    """Whether the server has closed ``sock`` (reading what it sent), without blocking."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
        return True, received
    except BlockingIOError:
        return False, received
    except OSError:
        return True, received


def trickle(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server closed it: what we wait for
        sock.send(data)


def hold(sockets: dict[str, list[socket.socket]], seconds: float, feed: dict[str, bytes]) -> dict[str, list[bytes]]:
    """Keep feeding the sockets of each group a little every 0.2 s until all are closed or time is up;
    returns what each socket received, for the closed ones."""
    answers: dict[str, dict[int, bytes]] = {group: {} for group in sockets}
    pending = {(group, i) for group, socks in sockets.items() for i in range(len(socks))}
    buffered: dict[tuple[str, int], bytes] = {}
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.2) + 1):  # bounded
        for group, i in sorted(pending):
            done, data = closed(sockets[group][i])
            buffered[(group, i)] = buffered.get((group, i), b"") + data
            if done:
                answers[group][i] = buffered[(group, i)]
                pending.discard((group, i))
            elif feed.get(group):
                trickle(sockets[group][i], feed[group])
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not pending, f"still open after {seconds:.0f} s: {sorted({g for g, _ in pending})}"
    return {group: [answers[group][i] for i in range(len(socks))] for group, socks in sockets.items()}


def test_slow_and_silent_clients_are_closed_within_the_bounds(server: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, process = server
    body_head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 990000\r\n")
    before = rss_kib(process.pid)
    sockets = {
        "idle": [connect(port) for _ in range(15)],
        "partial head": [connect(port, b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: ") for _ in range(15)],
        "stalled unauthenticated body": [connect(port, body_head + b"\r\n" + b"[" * 60_000) for _ in range(15)],
        "slow authenticated body": [connect(port, body_head + f"Authorization: Bearer {KEY}\r\n\r\n".encode())
                                    for _ in range(10)],
    }
    answers = hold(sockets, TIMEOUT + GRACE, feed={"partial head": b"a", "slow authenticated body": b" "})
    for text in answers["stalled unauthenticated body"]:  # answered at once, body unread, then closed
        assert text.startswith(b"HTTP/1.1 401") and b"connection: close" in text.lower(), text[:200]
    for text in answers["slow authenticated body"]:
        assert text.startswith(b"HTTP/1.1 408") and b"request_timeout" in text, text[:300]
    assert all(text == b"" for text in answers["idle"] + answers["partial head"])
    grown_mib = (rss_kib(process.pid) - before) / 1024
    assert grown_mib < 20, f"server RSS grew by {grown_mib:.0f} MiB with stalled bodies"
    for socks in sockets.values():
        for sock in socks:
            sock.close()


def test_excess_connections_are_turned_away_until_silent_ones_close(
        server: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, _ = server
    silent = [connect(port) for _ in range(MAX_CONNECTIONS)]
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 503
        hold({"silent": silent}, TIMEOUT + GRACE, feed={})
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        for sock in silent:
            sock.close()
