"""Request body limits: size by ``Content-Length`` up front, then size and time as bytes arrive.

Nothing is read before the app asks for it: a keyed route checks the API key first, so a
caller without one is answered (and its connection closed) without a byte of its body being
buffered. When the app does read, the body may not grow past ``max_bytes`` (a client that lies
about, or omits, ``Content-Length`` is cut off at the limit: 413) nor take longer than
``timeout`` seconds to arrive in full (408). Both answers are the API's JSON errors and close
the connection.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.interfaces.http.errors import error_body

_CLOSE = {"Connection": "close"}


class BodyLimit:
    """ASGI middleware bounding request bodies to ``max_bytes`` and ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(send, declared)
            return
        await self.app(scope, _BoundedBody(receive, self.max_bytes, self.timeout), send)

    async def _reject(self, send: Send, size: int) -> None:
        payload = json.dumps(error_body("request_too_large", _too_large(size, self.max_bytes))).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


class _BoundedBody:
    """The app's ``receive``: counts the body's bytes and time until its last chunk, then steps aside
    (later calls wait for the disconnect a streaming response listens for, unbounded)."""

    def __init__(self, receive: Receive, max_bytes: int, timeout: float):
        self._receive = receive
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._deadline: float | None = None
        self._size = 0
        self._done = False

    async def __call__(self) -> Message:
        if self._done:
            return await self._receive()
        if self._deadline is None:
            self._deadline = time.monotonic() + self._timeout
        try:
            async with asyncio.timeout(max(0.0, self._deadline - time.monotonic())):
                message = await self._receive()
        except TimeoutError:
            raise HTTPException(408, f"the request body did not arrive within {self._timeout:g} seconds",
                                headers=_CLOSE) from None
        if message["type"] == "http.request":
            self._size += len(message.get("body", b""))
            if self._size > self._max_bytes:
                raise HTTPException(413, _too_large(self._size, self._max_bytes), headers=_CLOSE)
            self._done = not message.get("more_body", False)
        return message


def _too_large(size: int, limit: int) -> str:
    return f"request body of at least {size} bytes exceeds the limit of {limit}"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


__all__ = ["BodyLimit"]
