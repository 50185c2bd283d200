"""The HTTP side of job backends: which one a server uses, what it refuses up front, and
waiting for a job's record to settle.

The backends themselves live in :mod:`orchestrator.queue` (both satisfy
:class:`~orchestrator.queue.JobBackend`, so the routes never ask which one they have):

* :class:`~orchestrator.queue.JobQueue` puts jobs on Redis; workers (other processes, or
  ``serve --with-worker N``) run them and write events to Redis.
* :class:`~orchestrator.queue.MemoryJobs` (``LocalJobs`` here) runs each job as an asyncio
  task owned by the app, with events in a :class:`~orchestrator.store.MemoryStore` (or the
  orchestrator's own store).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.interfaces.chat import no_planner_message
from orchestrator.logging import get_logger
from orchestrator.queue import Job, JobBackend, JobQueue, MemoryJobs
from orchestrator.types import RunResult

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator

log = get_logger(__name__)

_PROBE_RUN = "__healthz__"
SETTLE_SECONDS = 10.0
"""How long :func:`settled` waits, by default, for a job's record to say it finished."""


def check_target(orchestrator: Orchestrator, target: str, inputs: Mapping[str, Any]) -> None:
    """Reject what could never run, before it is queued: unknown workflows, bad inputs, no planner."""
    registry = orchestrator.registry
    if target in registry.workflow_names:
        registry.workflow(target).bind(inputs)
        return
    if orchestrator.settings.planner_spec() is None and not orchestrator.planning.router_available:
        if " " not in target.strip():
            raise UnknownNameError("workflow", target, registry.workflow_names)
        raise ConfigError(no_planner_message(registry), key="planner.model")


async def settled(jobs: JobBackend, job_id: str, timeout: float = SETTLE_SECONDS) -> Job:  # noqa: ASYNC109
    """The job once its record says finished, or as it is after ``timeout`` seconds.

    A job's record is written just after its terminal event, so a caller that saw that event
    waits here for the record rather than reading a stale ``running``.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    job = await jobs.status(job_id)
    while not job.finished and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
        job = await jobs.status(job_id)
    return job


async def outcome(jobs: JobBackend, job: Job) -> RunResult:
    """The run record of a finished ``job``, or a failed one with the job's error if the run left none."""
    result = await jobs.run_record(job.id)
    if result is None or result.status == "running":
        return RunResult(run_id=job.run_id, status="cancelled" if job.status == "cancelled" else "failed",
                         error=job.error)
    return result


def create_backend(orchestrator: Orchestrator) -> JobBackend:
    """The queue when the deployment has Redis, else in-process jobs."""
    if orchestrator.settings.redis_url:
        return JobQueue.from_settings(orchestrator.settings)
    return MemoryJobs(orchestrator, settings=orchestrator.settings.queue)


LocalJobs = MemoryJobs
"""The in-process backend's name before it moved to :mod:`orchestrator.queue`."""

__all__ = ["SETTLE_SECONDS", "JobBackend", "LocalJobs", "check_target", "create_backend", "outcome", "settled"]
