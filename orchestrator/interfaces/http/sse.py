"""Server-sent events: the wire format, and following a job's events to its end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.interfaces.http.backends import JobBackend, settled

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEPALIVE_SECONDS = 15.0


def sse(data: Any, *, event: str | None = None, id: str | None = None) -> str:
    """One SSE message; ``data`` that is not a string is sent as JSON."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    lines = []
    if id is not None:
        lines.append(f"id: {id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return "\n".join(lines) + "\n\n"


async def follow_job(backend: JobBackend, job_id: str, after: str | None,
                     keepalive: float = KEEPALIVE_SECONDS) -> AsyncIterator[str]:
    """A job's events as SSE messages (``id`` is the resume cursor), until the terminal one.

    A finished job's stream is replayed without waiting. While nothing happens, a comment
    line goes out every ``keepalive`` seconds so proxies keep the connection open. The
    terminal event is held back until the job's record says finished (it is written just
    after the event), so a client that reads the job on that event finds its final status
    and result, never a stale ``running``.
    """
    yield f"retry: 2000\n: job {job_id}\n\n"
    cursor = after
    while True:
        follow = not (await backend.status(job_id)).finished
        async for position, event in backend.events(job_id, after=cursor, follow=follow, timeout=keepalive):
            cursor = position
            if event.terminal and follow:
                await settled(backend, job_id)
            yield sse(event.model_dump(mode="json"), event=event.type, id=position)
            if event.terminal:
                return
        if not follow:
            return
        yield ": keepalive\n\n"


__all__ = ["KEEPALIVE_SECONDS", "SSE_HEADERS", "follow_job", "sse"]
