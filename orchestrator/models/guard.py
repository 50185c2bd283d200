"""Blocks real model requests where they are not wanted (tests), and records each one it blocks.

Every real backend calls :func:`check` before it sends anything. Inside a
:func:`model_requests` block the block decides; the innermost block records
every request it refuses, so a caller can fail loudly even when something
upstream (the router's escalation) swallowed the :class:`ModelRequestBlocked`::

    with model_requests(allowed=False) as blocked:
        ...
    assert not blocked, blocked.models

Outside any block the environment decides, so processes started by a test
suite (CLI, workers, servers) are covered too: ``ORCH_BLOCK_MODEL_REQUESTS=1``
blocks, and ``ORCH_BLOCKED_MODEL_REQUESTS_FILE=PATH`` appends one line per
blocked request (``model<TAB>pid``) to PATH for the parent to inspect. The
names deliberately avoid the ``ORCHESTRATOR_`` prefix: that is the settings'
namespace, which test helpers strip from a child's environment. With neither
variable set, requests are allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from orchestrator.errors import ModelRequestBlocked

BLOCK_ENV = "ORCH_BLOCK_MODEL_REQUESTS"
"""Set to ``1`` (or ``true``/``yes``) to block real model requests in this process and its children."""
RECORD_ENV = "ORCH_BLOCKED_MODEL_REQUESTS_FILE"
"""A file that blocked requests made outside any :func:`model_requests` block are appended to."""


@dataclass(eq=False)
class BlockedRequests:
    """The real model requests one :func:`model_requests` block refused."""

    allowed: bool
    models: list[str] = field(default_factory=list)
    """Model references, one entry per refused request, in order."""

    def __bool__(self) -> bool:
        return bool(self.models)


_blocks: list[BlockedRequests] = []


def _blocked_by_environment() -> bool:
    return os.environ.get(BLOCK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def requests_allowed() -> bool:
    """Whether a real model request may be sent right now."""
    if _blocks:
        return _blocks[-1].allowed
    return not _blocked_by_environment()


def check(model: str) -> None:
    """Raise :class:`ModelRequestBlocked` (and record it) if real requests are switched off."""
    if requests_allowed():
        return
    if _blocks:
        _blocks[-1].models.append(model)
    else:
        _record_to_file(model)
    raise ModelRequestBlocked(model)


def _record_to_file(model: str) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:  # one short append: atomic enough across processes
            fh.write(f"{model}\t{os.getpid()}\n")
    except OSError:
        pass  # the request is still refused; only the report is lost


def blocked_in_file(path: str | os.PathLike[str], offset: int = 0) -> list[str]:
    """Model references recorded in a :data:`RECORD_ENV` file from byte ``offset`` on."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    return [line.split("\t", 1)[0] for line in lines if line]


@contextmanager
def model_requests(*, allowed: bool) -> Iterator[BlockedRequests]:
    """Allow or block real model requests inside the block; yields what the block refused."""
    block = BlockedRequests(allowed=allowed)
    _blocks.append(block)
    try:
        yield block
    finally:
        _blocks.remove(block)


__all__ = ["BLOCK_ENV", "RECORD_ENV", "BlockedRequests", "blocked_in_file", "check", "model_requests",
           "requests_allowed"]
