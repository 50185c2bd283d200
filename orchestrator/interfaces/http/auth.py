"""API keys: ``Authorization: Bearer <key>``, compared in constant time.

With no keys configured the API is open (``serve`` then binds 127.0.0.1 by default).
Routers that need a key use :class:`KeyedRoute`, which checks it before FastAPI reads the
request body: a caller without a valid key gets 401 whatever it sends, never a 422 that
describes the body it should have sent. EventSource cannot set headers, so routes of
:class:`QueryKeyedRoute` (the job event stream) also accept ``?api_key=``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import SecretStr

from orchestrator.interfaces.http.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer", "Connection": "close"}
"""A refused caller's connection is closed: its body (never read) cannot keep it open."""


class ApiKeys:
    """The accepted keys."""

    def __init__(self, keys: Sequence[SecretStr | str]):
        self._keys = [(k.get_secret_value() if isinstance(k, SecretStr) else k).encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is a configured key (every key compared, in constant time)."""
        given = token.encode()
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    def check(self, request: Request, *, allow_query: bool = False) -> None:
        """Raise a 401 :class:`ApiError` unless the request carries a configured key."""
        if not self.enabled:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if not token and allow_query:
            token, scheme = request.query_params.get("api_key", ""), "bearer"
        if not token:
            raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                           headers=_CHALLENGE)
        if scheme.lower() != "bearer" or not self.accepts(token.strip()):
            raise ApiError(401, "unauthorized", "invalid API key", headers=_CHALLENGE)


class KeyedRoute(APIRoute):
    """A route whose caller must present a configured key (checked before the body is read)."""

    accepts_query_key = False
    """Whether ``?api_key=`` may stand in for the header."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allow_query = self.accepts_query_key

        async def checked(request: Request) -> Response:
            keys: ApiKeys = request.app.state.api_keys
            keys.check(request, allow_query=allow_query)
            return await handler(request)

        return checked


class QueryKeyedRoute(KeyedRoute):
    """A keyed route that also takes the key as ``?api_key=`` (for EventSource)."""

    accepts_query_key = True


__all__ = ["ApiKeys", "KeyedRoute", "QueryKeyedRoute"]
