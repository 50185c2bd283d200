"""A real HTTP server on 127.0.0.1 that answers from recordings and records what it was sent."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).parent / "recordings"


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = None
    """Sent as JSON; a ``str`` is sent as it is (a stream of SSE or NDJSON lines)."""
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


Responder = Callable[[Request], Reply]


def recording(name: str, *, delay: float = 0.0) -> Reply:
    """A recorded response from ``recordings/<name>.json`` (``{"status": ..., "body": ...}``)."""
    data = json.loads((RECORDINGS / f"{name}.json").read_text())
    return Reply(status=data["status"], body=data["body"], delay=delay)


@dataclass
class FakeServer:
    """Answers each path from a queue of replies (or a function); records every request."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    _queues: dict[str, deque[Reply]] = field(default_factory=dict)
    _responders: dict[str, Responder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, path: str, *replies: Reply) -> None:
        self._queues.setdefault(path, deque()).extend(replies)

    def respond(self, path: str, responder: Responder) -> None:
        self._responders[path] = responder

    def bodies(self, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.path == path]

    def answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get(request.path)
            if queue:
                return queue.popleft()
        responder = self._responders.get(request.path)
        if responder is not None:
            return responder(request)
        return Reply(599, {"error": f"test server: nothing scripted for {request.path}"})


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = server.answer(Request(self.command, path, headers, body))
            if reply.delay:
                time.sleep(reply.delay)
            payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up (a timeout test)
                pass

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that hang up mid-answer are expected in timeout tests


def start() -> tuple[FakeServer, Callable[[], None]]:
    """Start a FakeServer on a free port of 127.0.0.1; returns it and its stop function."""
    fake = FakeServer()
    httpd = _Server(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return fake, stop


def free_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
