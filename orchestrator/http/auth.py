"""API keys: ``Authorization: Bearer <key>``, compared in constant time.

With no keys configured the API is open (``serve`` then binds 127.0.0.1 by default).
EventSource cannot set headers, so the job events route alone also accepts ``?api_key=``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from fastapi import Request
from pydantic import SecretStr

from orchestrator.http.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


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


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.api_keys
    return keys


async def require_key(request: Request) -> None:
    """Dependency: a valid bearer key (when keys are configured)."""
    _keys(request).check(request)


async def require_key_or_query(request: Request) -> None:
    """Dependency: a valid bearer key, or ``?api_key=`` (for EventSource)."""
    _keys(request).check(request, allow_query=True)


__all__ = ["ApiKeys", "require_key", "require_key_or_query"]
