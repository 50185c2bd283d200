"""The job queue: submit work, have workers run it, follow and cancel it.

::

    queue = JobQueue.from_settings(settings)          # Redis: workers anywhere run the jobs
    handle = queue.handle(await queue.submit("ticket_triage", {"ticket": text}))
    result = await handle.result(timeout=60)

Rooms, one concept each:

- :mod:`~orchestrator.queue.jobs`: the job record (:class:`Job`), a delivery, :class:`JobRunner`
- :mod:`~orchestrator.queue.backend`: the contract (:class:`JobBackend`) and :class:`JobHandle`
- :mod:`~orchestrator.queue.client`: :class:`JobQueue`, the Redis backend (client side)
- :mod:`~orchestrator.queue.leases`: the worker-side lease transitions (``worker_*``)
- :mod:`~orchestrator.queue.scripts`: the Lua scripts those transitions run
- :mod:`~orchestrator.queue.memory`: :class:`MemoryJobs`, the in-process backend (no Redis)
- :mod:`~orchestrator.queue.worker`: :class:`Worker`, which runs jobs from the Redis queue
"""

from __future__ import annotations

from orchestrator.queue.backend import JobBackend, JobHandle
from orchestrator.queue.client import JobQueue
from orchestrator.queue.jobs import TERMINAL, Delivery, Job, JobRunner, JobStatus
from orchestrator.queue.memory import MemoryJobs
from orchestrator.queue.worker import Worker
from orchestrator.settings import QueueSettings

__all__ = ["TERMINAL", "Delivery", "Job", "JobBackend", "JobHandle", "JobQueue", "JobRunner", "JobStatus",
           "MemoryJobs", "QueueSettings", "Worker"]
