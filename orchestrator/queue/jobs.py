"""Job types: the record of a queued job, one delivery of it to a worker, and what runs it.

A :class:`Job` is stored as JSON under ``<prefix>:job:<id>`` (Redis) or kept in a dict (the
in-process backend); the queue's scripts rewrite its state fields without decoding the rest
(see :mod:`orchestrator.queue.scripts`), which is why they come last and in this order.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, ValidationError

from orchestrator import telemetry
from orchestrator.errors import JobError
from orchestrator.events import EventSink
from orchestrator.payload import check_payload
from orchestrator.types import RunResult, Sensitivity

JobStatus = Literal["queued", "running", "completed", "failed", "cancelled", "dead"]
"""``dead`` is only found in records written by earlier versions: a dead-lettered job is now
``failed`` with :attr:`Job.dead_lettered` set."""
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled", "dead"})


class Job(BaseModel):
    """A queued unit of work and what became of it.

    The state fields come last, in this order: the queue's scripts rewrite them as the tail
    of the stored JSON without decoding the inputs (see :mod:`orchestrator.queue.scripts`).
    """

    id: str
    target: str
    """A workflow name or a free-form task."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    sensitivity: dict[str, Sensitivity] | None = None
    run_id: str
    idempotency_key: str | None = None
    created_at: float = Field(default_factory=time.time)
    trace: dict[str, str] | None = None
    """The submitter's trace context (W3C ``traceparent``), when tracing is on: the worker's run
    joins that trace."""
    status: JobStatus = "queued"
    attempts: int = 0
    """How many times a worker started the job. The latest attempt's number is its fencing
    token: only the attempt whose number the record holds (while ``running``) may write."""
    error: str | None = None
    worker: str | None = None
    """The worker that started the latest attempt."""
    started_at: float | None = None
    finished_at: float | None = None
    dead_lettered: bool = False
    """The job failed on every attempt (or its workers kept dying) and went to the dead-letter stream."""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def fingerprint(self) -> str:
        """What the job does (target, inputs, sensitivity), as a digest: same work, same digest."""
        work = json.loads(self.model_dump_json(include={"target", "inputs", "sensitivity"}))
        canonical = json.dumps(work, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def new_job(job_id: str, target: str, inputs: Mapping[str, Any] | None, *,
            sensitivity: Mapping[str, Sensitivity] | None, idempotency_key: str | None) -> Job:
    """A queued :class:`Job` whose run id is its id (a rerun resumes the same run).

    The target and inputs pass the payload policy first (:mod:`orchestrator.payload`): too deep,
    ``NaN``, lone surrogates or NUL raise :class:`~orchestrator.errors.InputError` here, at
    submission, instead of failing later in a worker."""
    check_payload(target, "target")
    check_payload(dict(inputs or {}))
    return Job(id=job_id, target=target, inputs=dict(inputs or {}), run_id=job_id,
               sensitivity=dict(sensitivity) if sensitivity else None, idempotency_key=idempotency_key,
               trace=telemetry.inject())


def run_outcome(job: Job, run: RunResult | None, *, waited: bool, timeout: float | None) -> RunResult:
    """What ``result()`` answers for ``job`` and its run record: the run of a finished job, or
    a :class:`JobError` saying why there is none (unfinished, cancelled, failed before running)."""
    if not job.finished:
        if not waited:
            raise JobError(job.id, f"not finished yet (status {job.status})")
        raise JobError(job.id, f"not finished within {timeout:g}s (status {job.status})")
    if run is None or run.status == "running":
        raise JobError(job.id, f"{job.status}: {job.error or 'no run result recorded'}")
    return run


def parse_record(job_id: str, raw: bytes | str) -> Job:
    """A stored job record; :class:`JobError` if it is corrupt (not a :class:`Job`)."""
    try:
        return Job.model_validate_json(raw)
    except ValidationError as exc:
        raise JobError(job_id, f"corrupt job record: {exc.errors()[0]['msg']}") from None


def unknown(job_id: str) -> JobError:
    """The error for an id that names no job."""
    return JobError(job_id, "unknown job (never submitted, or its record expired)")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stream entry handed to a worker."""

    message_id: str
    job_id: str
    shard: int = 0
    """The queue shard whose stream holds the entry (message ids are unique per stream only)."""


@runtime_checkable
class JobRunner(Protocol):
    """Runs one job. :class:`~orchestrator.engine.app.Orchestrator` satisfies it."""

    async def run(
        self,
        target: str,
        inputs: Mapping[str, Any],
        *,
        run_id: str,
        sensitivity: Mapping[str, Sensitivity] | None = None,
        events: EventSink | None = None,
    ) -> RunResult: ...


__all__ = ["TERMINAL", "Delivery", "Job", "JobRunner", "JobStatus", "new_job", "parse_record", "run_outcome", "unknown"]
