"""The request and response bodies of the jobs and threads API (the OpenAI-compatible ones live with it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.payload import payload_problem
from orchestrator.queue import Job, JobStatus
from orchestrator.store import ChatMessage
from orchestrator.types import RunResult, Sensitivity


class CheckedBody(BaseModel):
    """A request body that passes the payload checks (:mod:`orchestrator.payload`) as a whole:
    no nesting past the limit, no NaN or Infinity, no lone surrogates, no NUL characters."""

    @model_validator(mode="before")
    @classmethod
    def _payload(cls, data: Any) -> Any:
        if (problem := payload_problem(data, "body")) is not None:
            raise PydanticCustomError("unsafe_payload", problem)
        return data


class JobRequest(CheckedBody):
    """``POST /v1/jobs``: what to run."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(min_length=1, max_length=20_000)
    """A workflow name (see ``GET /v1/workflows``) or a free-form task for the planner."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    sensitivity: dict[str, Sensitivity] | None = None
    """Marks inputs ``public``, ``internal`` or ``confidential``."""
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    """Submitting again with the same key returns the first job's id."""


class JobAccepted(BaseModel):
    """``202``: the job is queued."""

    job_id: str
    status: JobStatus


class JobInfo(BaseModel):
    """``GET /v1/jobs/{id}``: the job's state, and its run result once it has one."""

    job_id: str
    target: str
    status: JobStatus
    attempts: int
    error: str | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    result: RunResult | None = None

    @classmethod
    def of(cls, job: Job, result: RunResult | None) -> JobInfo:
        return cls(job_id=job.id, target=job.target, status=job.status, attempts=job.attempts, error=job.error,
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   result=result if job.finished else None)


class ThreadMessage(CheckedBody):
    """``POST /v1/threads/{thread_id}/messages``: one chat message."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20_000)
    """The text, as typed in the terminal chat (``<workflow>: <text>`` runs a workflow)."""
    workflow: str | None = Field(default=None, min_length=1)
    """Run this workflow on ``message`` (else the message itself says what to run)."""


class ThreadMessageAccepted(JobAccepted):
    """``202``: the message is recorded and its job queued; follow ``/v1/jobs/{job_id}/events``."""

    thread_id: str


class ThreadInfo(BaseModel):
    """``GET /v1/threads/{thread_id}``: the conversation so far, oldest first."""

    thread_id: str
    messages: list[ChatMessage]
    pending_job_id: str | None = None
    """The job still answering the last message, if any."""


class InputInfo(BaseModel):
    type: str
    description: str = ""
    required: bool = True
    sensitivity: Sensitivity | None = None


class WorkflowInfo(BaseModel):
    name: str
    description: str = ""
    inputs: dict[str, InputInfo]


class WorkflowList(BaseModel):
    """``GET /v1/workflows``."""

    workflows: list[WorkflowInfo]
    planner: bool
    """Whether free-form tasks can be submitted (a planner model, or the local task router)."""


class AgentList(BaseModel):
    """``GET /v1/agents``: each agent's name, kind, description and schemas."""

    agents: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    store: str


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body."""

    error: ErrorDetail


__all__ = ["AgentList", "CheckedBody", "ErrorResponse", "Health", "InputInfo", "JobAccepted", "JobInfo", "JobRequest",
           "ThreadInfo", "ThreadMessage", "ThreadMessageAccepted", "WorkflowInfo", "WorkflowList"]
