"""Job records the scripts cannot read: an older layout is rewritten, a corrupt record is poison.

Records written before the state fields were put last (or before a state field was added)
make START and FINISH answer ``relayout``; :func:`rewrite` stores the record again in the
current field order, and the caller runs its script once more. A record that is no
:class:`~orchestrator.queue.Job` at all (garbage under ``<prefix>:job:<id>``) cannot be
rewritten: :func:`rewrite` says why, and the caller dead-letters that job alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from orchestrator.queue._redis import RedisQueueBase


async def rewrite(queue: RedisQueueBase, job_id: str) -> str | None:
    """Store ``job_id``'s record again, unchanged, in the current field order; or, if the record
    is not a job at all, return why (nothing is written then)."""
    try:
        await queue._update(job_id, lambda job: job, rewrite=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"corrupt job record: {first['msg']} ({exc.error_count()} error(s))"
    return None


__all__ = ["rewrite"]
