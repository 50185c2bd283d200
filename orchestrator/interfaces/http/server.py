"""The HTTP server process: uvicorn with every connection bounded in size, time and number.

uvicorn bounds the request head's size (``h11_max_incomplete_event_size``), idle keep-alive
connections (``timeout_keep_alive``) and concurrent connections (``limit_concurrency``: beyond
it new requests get 503), but nothing bounds the time a client may take to *send* a request
head: its keep-alive timer is reset by every byte, and it is not armed at all before the first
request. :class:`BoundedH11Protocol` adds that deadline (``http.header_timeout``): a connection
that has not delivered a complete request head within it (after connecting, or after its last
response) is closed, so idle sockets and slowly-trickled headers cannot hold the server. The
time to send a body is bounded by :class:`~orchestrator.interfaces.http.limits.BodyLimit`
(``http.body_timeout``), and the API key is checked before any body is read.

::

    config = server_config(app, settings.http, host="127.0.0.1", port=8000)
    await uvicorn.Server(config).serve()
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from orchestrator.settings import HttpSettings


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head (see the module docstring)."""

    header_timeout: float = 10.0
    """Seconds a connection may take to deliver a whole request head; set by :func:`protocol_class`."""

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._serving():  # the head is complete: the app (and the body timeout) take over
            self._disarm_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._serving():
            self._arm_head_deadline()  # the next request head (or the rest of an unread body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _serving(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_expired)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if not self._serving() and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request within %ss", self.header_timeout)
            self.transport.close()


def protocol_class(header_timeout: float) -> type[BoundedH11Protocol]:
    """A :class:`BoundedH11Protocol` with that head deadline (uvicorn takes a class, not an instance)."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"header_timeout": header_timeout})


def server_config(app: ASGIApp, http: HttpSettings, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration for ``app`` with the bounds of ``http``; ``options`` go to uvicorn."""
    return uvicorn.Config(
        app, host=host, port=port, http=protocol_class(http.header_timeout),
        timeout_keep_alive=http.keep_alive_timeout, h11_max_incomplete_event_size=http.max_header_bytes,
        limit_concurrency=http.max_connections, **{"access_log": False, **options})


__all__ = ["BoundedH11Protocol", "protocol_class", "server_config"]
