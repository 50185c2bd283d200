"""Blocks real model requests where they are not wanted (tests).

Every real backend calls :func:`check` before it sends anything. The test
suite's conftest turns requests off for every test; a test opts in with
``@pytest.mark.allow_model_requests``. Outside tests requests are allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.errors import ModelRequestBlocked

_allowed = True


def requests_allowed() -> bool:
    return _allowed


def check(model: str) -> None:
    """Raise :class:`ModelRequestBlocked` if real requests are switched off."""
    if not _allowed:
        raise ModelRequestBlocked(model)


@contextmanager
def model_requests(*, allowed: bool) -> Iterator[None]:
    """Allow or block real model requests inside the block."""
    global _allowed
    previous, _allowed = _allowed, allowed
    try:
        yield
    finally:
        _allowed = previous
