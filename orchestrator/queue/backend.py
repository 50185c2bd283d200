"""The job backend contract: what every place that runs jobs offers (:class:`JobBackend`), and a
handle on one submitted job (:class:`JobHandle`).

Two backends satisfy it: :class:`~orchestrator.queue.JobQueue` (Redis; workers anywhere run
the jobs) and :class:`~orchestrator.queue.MemoryJobs` (no Redis: the jobs run as tasks of this
process). ``Orchestrator.submit``, the HTTP API and the contract tests use either one the same
way and never ask which one they have.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.queue.jobs import Job
from orchestrator.types import Event, RunResult, Sensitivity

if TYPE_CHECKING:
    from orchestrator.store import Store


class JobBackend(Protocol):
    """Submit, inspect, follow and cancel jobs. Unknown ids raise :class:`~orchestrator.errors.JobError`."""

    name: str
    """``redis`` or ``memory``, for ``/healthz``."""

    @property
    def store(self) -> Store:
        """Where the jobs' runs and events live (and the chat threads kept beside them)."""
        ...

    async def submit(self, target: str, inputs: Mapping[str, Any] | None = None, *,
                     sensitivity: Mapping[str, Sensitivity] | None = None,
                     idempotency_key: str | None = None) -> str:
        """Queue a job and return its id; the same ``idempotency_key`` returns the same id
        (:class:`~orchestrator.errors.IdempotencyConflict` if reused for other work)."""
        ...

    async def status(self, job_id: str) -> Job: ...

    async def result(self, job_id: str, *, wait: bool = False,
                     timeout: float | None = None) -> RunResult:  # noqa: ASYNC109 - part of the contract
        """The run of a finished job (with ``wait``, once it finishes); JobError if there is none."""
        ...

    async def run_record(self, job_id: str) -> RunResult | None:
        """The run record of a job as it is now (``None`` before it starts)."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, a running one as soon as its runner notices."""
        ...

    def events(self, job_id: str, *, after: str | None = None, follow: bool = False,
               timeout: float | None = None) -> AsyncIterator[tuple[str, Event]]: ...

    def handle(self, job_id: str) -> JobHandle: ...

    async def ping(self) -> None:
        """Raise :class:`~orchestrator.errors.StoreError` if the backing store is unreachable."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class JobHandle:
    """A submitted job: ``await handle.result()`` waits for its run; status, events and cancel too."""

    id: str
    queue: JobBackend

    async def status(self) -> Job:
        """The job's record (see :meth:`JobBackend.status`)."""
        return await self.queue.status(self.id)

    async def result(self, timeout: float | None = None) -> RunResult:  # noqa: ASYNC109 - documented API
        """Wait until the job finishes and return its run; JobError if it did not complete a run
        (cancelled, failed before running, dead-lettered) or ``timeout`` passed first."""
        return await self.queue.result(self.id, wait=True, timeout=timeout)

    def events(
        self, *, follow: bool = True, after: str | None = None, timeout: float | None = None
    ) -> AsyncIterator[tuple[str, Event]]:
        """The run's events as ``(cursor, event)``, by default following them to the end."""
        return self.queue.events(self.id, after=after, follow=follow, timeout=timeout)

    async def cancel(self) -> Job:
        """Cancel the job (see :meth:`JobBackend.cancel`)."""
        return await self.queue.cancel(self.id)


__all__ = ["JobBackend", "JobHandle"]
