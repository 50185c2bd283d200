"""Redis plumbing shared by the store, the checkpointer and the queue.

``connection`` makes clients (one factory, timeouts everywhere) and turns Redis failures into
:class:`~orchestrator.errors.StoreError`; ``signals`` waits on pub/sub channels; ``batching``
coalesces calls made in one turn of the event loop. Key names live in :mod:`orchestrator.keys`.
"""

__all__: list[str] = []
