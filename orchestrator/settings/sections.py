"""The sections of a deployment's configuration: planner, budget, executor, queue, Redis, HTTP, logging.

Each section is a small pydantic model that rejects unknown keys; :class:`~orchestrator.settings.Settings`
holds one of each.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

_DAY = 86_400
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def split_list(value: Any) -> Any:
    """Lists from the environment: JSON (``["a", "b"]``) or comma-separated (``a,b``)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    return [part.strip() for part in value.split(",") if part.strip()]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannerSettings(_Section):
    """The large model that turns a free-form task into a plan."""

    model: str | None = None
    """A name in ``models`` or a raw reference (``openai:gpt-4o-mini``); None: no planner (workflows only)."""
    max_repairs: int = Field(default=2, ge=0)
    """How often an invalid plan is sent back to the model with its problems."""
    replan: bool = True
    """Ask for a new plan once after a step fails for good."""
    max_steps: int = Field(default=20, ge=1)
    """The largest plan accepted."""
    router: bool = True
    """Match free-form tasks to a workflow locally first (:mod:`orchestrator.planning`)."""
    router_model: str = "embed"
    """The embedding model the task router uses; the router is off when no such model is configured."""
    router_threshold: float = Field(default=0.435, ge=0, le=1)
    """Lowest match score that runs a workflow: the value ``python -m bench.planning`` calibrates on its
    corpus with all-MiniLM-L6-v2 (98% routing accuracy on the calibration split); recalibrate for
    another embedder or your own workflows' examples."""
    cache: bool = True
    """Reuse the plans of earlier successful runs for requests with the same keywords and inputs."""
    cache_ttl: int = Field(default=7 * 86400, ge=1)
    """Seconds a cached plan lives on Redis."""
    cache_size: int = Field(default=1000, ge=1)
    """Most plans kept (least recently used go first)."""


class Budget(_Section):
    """Default limits of one run; ``None`` means unlimited."""

    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0)


class ExecutorSettings(_Section):
    """How plans run."""

    step_timeout: float = Field(default=120.0, gt=0)
    """Seconds a step may take before it fails."""
    max_parallel_steps: int = Field(default=16, ge=1)
    """Steps of one run in flight at once."""
    max_items: int = Field(default=1000, ge=1)
    """Items one for_each step may fan out over; a longer list fails the step (each item is a
    checkpointed task)."""
    durability: Literal["sync", "async", "exit"] = "sync"
    """When LangGraph persists step results: before the next step (sync), in the background, or at exit."""


class QueueSettings(_Section):
    """The Redis job queue and its workers."""

    visibility_timeout: float = Field(default=30.0, gt=0)
    """Seconds a job may stay unacknowledged before another worker reclaims it."""
    max_attempts: int = Field(default=3, ge=1)
    """Attempts before a job goes to the dead-letter stream."""
    worker_concurrency: int = Field(default=4, ge=1)
    """Jobs one worker process runs at once."""
    result_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds run records and job results are kept."""
    events_maxlen: int = Field(default=10_000, ge=1)
    """Events kept per run stream (approximate trimming)."""
    events_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds a run's event stream is kept after its last event."""
    checkpoint_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds a run's LangGraph checkpoints are kept after its last step (resuming needs them)."""
    dead_letters_maxlen: int = Field(default=10_000, ge=1)
    """Entries kept in the dead-letter stream (the oldest are dropped)."""
    shutdown_grace: float = Field(default=10.0, ge=0)
    """On SIGTERM, seconds in-flight jobs may finish before they are handed back."""
    poll_interval: float = Field(default=0.5, gt=0)
    """Seconds between a worker's checks for cancel flags (and the longest a stream read blocks)."""
    shards: int = Field(default=1, ge=1, le=1024)
    """Streams the queue is spread over (one hash slot each): 1 on a single Redis; on Redis
    Cluster, a few per master so the load spreads. Every client and worker must agree."""


class RedisSettings(_Section):
    """How every client talks to Redis (store, checkpointer, queue, workers, CLI, HTTP)."""

    connect_timeout: float = Field(default=2.0, gt=0)
    """Seconds to open a connection, handshake included; an unreachable or mute server fails then."""
    socket_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for any one reply on an open connection."""
    max_connections: int = Field(default=64, ge=1)
    """Connections one client (its pool; on Redis Cluster, over all nodes) uses at once: a command
    or pipeline holds one while it runs, a pub/sub subscription until it is closed. Callers
    beyond wait for a free one, up to ``socket_timeout``."""


class HttpSettings(_Section):
    """The HTTP server."""

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Bearer keys accepted by the API; empty: no authentication (bind to localhost only)."""
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    """The largest request body; a larger one gets 413 (by ``Content-Length`` before it is read)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    docs: Literal["keyed", "open", "off"] = "keyed"
    """The API description (``/openapi.json``, ``/docs``, ``/redoc``): behind the API key when keys
    are configured (``keyed``; browsers may pass ``?api_key=``), open to anyone, or not served."""
    header_timeout: float = Field(default=10.0, gt=0)
    """Seconds a connection may take to send a whole request head (after connecting or after its
    last response); slower or silent connections are closed."""
    body_timeout: float = Field(default=30.0, gt=0)
    """Seconds a request may take to send its whole body once the app reads it; then 408."""
    keep_alive_timeout: int = Field(default=5, ge=1)
    """Seconds an idle keep-alive connection stays open between requests."""
    max_header_bytes: int = Field(default=16_384, ge=1024)
    """The largest request head (request line and headers); a larger one gets 400."""
    max_connections: int = Field(default=200, ge=1)
    """Concurrent connections (and requests in flight) before new requests get 503."""

    _split_keys = field_validator("api_keys", mode="before")(split_list)


class LogSettings(_Section):
    """Structured logging."""

    level: str = "warning"
    """debug, info, warning, error or critical."""
    format: Literal["auto", "json", "console"] = "auto"
    """auto: pretty in a terminal, JSON otherwise."""

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.lower()


class LearningSettings(_Section):
    """The distillation flywheel: which step traces become labelled examples, and when to refit."""

    enabled: bool = False
    """Record step traces and collect examples (a larger model's answer after an escalation, feedback)."""
    keep_confidential: bool = False
    """Also keep steps whose input is confidential (in this deployment's own store; never sent anywhere)."""
    trace_ttl: int = Field(default=7 * 24 * 3600, ge=1)
    """Seconds a step's input is kept so feedback on it can become an example."""
    distill_every: int = Field(default=0, ge=0)
    """Refit a specialist automatically after this many new examples of it (0: only ``orchestrator distill``),
    counted in the example store: several workers on one Redis together refit once per this many."""
    distill_lock_ttl: int = Field(default=900, ge=1)
    """Seconds a distillation holds the specialist's lock at most (one process distils at a time;
    a crashed one's lock frees itself then)."""
    versions_dir: str = ".orchestrator/versions"
    """Where distilled versions (artefact, data hash, metrics, date) and the current pointer live."""
    holdout: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of the examples held out to compare a candidate with the current version."""
    audit_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of the steps answered locally also asked of the next model of the cascade (never for
    confidential inputs), its answer kept as an example recording whether the local one agreed."""
    audit_min: float | None = Field(default=None, ge=0.0, le=1.0)
    """The audit rate once the local model has proved itself: when the last ``audit_proof`` audits
    of a specialist agree with its local answers at least ``audit_agreement`` of the time the rate
    steps down to this, and back up to ``audit_rate`` when they no longer do (None: never steps down)."""
    audit_proof: int = Field(default=100, ge=1)
    """Audits of a specialist (the most recent) whose agreement decides the step-down."""
    audit_agreement: float = Field(default=0.95, gt=0.0, le=1.0)
    """Agreement of those audits that lets the rate step down to ``audit_min``."""

    @model_validator(mode="after")
    def _audit_min_below_rate(self) -> LearningSettings:
        if self.audit_min is not None and self.audit_min > self.audit_rate:
            raise ValueError(f"audit_min ({self.audit_min:g}) is the rate audits step down to and must not exceed "
                             f"audit_rate ({self.audit_rate:g}); lower audit_min or raise audit_rate")
        return self


__all__ = [
    "Budget",
    "ExecutorSettings",
    "HttpSettings",
    "LearningSettings",
    "LogSettings",
    "PlannerSettings",
    "QueueSettings",
    "RedisSettings",
    "split_list",
]
