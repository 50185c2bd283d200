"""Job records in an older layout: rewritten through pydantic so the scripts can read their tail.

Records written before the state fields were put last (or before a state field was added)
make START and FINISH answer ``relayout``; :func:`rewrite` stores the record again in the
current field order, and the caller runs its script once more. This module goes when no
deployment keeps such records (they expire after ``result_ttl``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.queue._redis import RedisQueueBase


async def rewrite(queue: RedisQueueBase, job_id: str) -> None:
    """Store ``job_id``'s record again, unchanged, in the current field order."""
    await queue._update(job_id, lambda job: job, rewrite=True)


__all__ = ["rewrite"]
