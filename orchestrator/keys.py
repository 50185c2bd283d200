"""Every Redis key the orchestrator writes, in one place.

All keys live under one prefix (per deployment or tenant), so a deployment can
share a Redis with others and a test can remove exactly what it wrote.
Components receive a :class:`KeySpace` and never format keys themselves.

Two layouts. The plain one (one Redis, one queue shard: the default) names keys as they always
were. The *sharded* one (``shards > 1``, or ``cluster``: needed on Redis Cluster) puts Redis
Cluster hash tags in the keys so that every script and transaction touches one slot:

- queue shard ``N`` is the tag ``{<prefix>:sN}``: its stream, dead letters and index, and every
  job queued on it, whose id ends in ``.sN`` (:meth:`KeySpace.new_job_id`);
- the keys of a run, thread or job id carry the tag of the id's shard (a job's run id and
  checkpoint thread id are its job id), so a job's record, run record, events and checkpoints
  share its shard's slot, and the fenced writes of an attempt stay one script;
- an id that names no shard (a run started without the queue) is its own tag ``{<id>}``;
- an idempotency key lives on the shard its name hashes to, where its job is queued.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from urllib.parse import quote, unquote

DEFAULT_PREFIX = "orch"

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
"""URL schemes naming a Redis Cluster (any one node seeds the client)."""

_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})
_SHARDED_ID = re.compile(r"\.s(\d{1,6})$")


def escape_part(value: str) -> str:
    """Percent-encode a user-supplied key part so it never contains ``:``, braces or globs.

    ``escape_part("a:b") == "a%3Ab"``; plain identifiers (``[A-Za-z0-9_.~-]``) pass unchanged.
    """
    return quote(value, safe="")


def unescape_part(value: str) -> str:
    """Invert :func:`escape_part`."""
    return unquote(value)


def is_cluster_url(url: str | None) -> bool:
    """Does ``url`` name a Redis Cluster (``redis+cluster://``)?"""
    return url is not None and url.startswith(CLUSTER_SCHEMES)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Names Redis keys under one ``prefix``, in the plain or the sharded layout."""

    prefix: str = DEFAULT_PREFIX
    shards: int = 1
    """How many streams the job queue is spread over (one per shard)."""
    cluster: bool = False
    """Redis Cluster: the sharded layout even with one shard."""

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"a key space needs at least one queue shard, not {self.shards}")
        if self.sharded and ("{" in self.prefix or "}" in self.prefix):
            raise ValueError(f"the sharded key layout needs a prefix without braces: {self.prefix!r}")

    @classmethod
    def for_url(cls, prefix: str, redis_url: str | None, shards: int = 1) -> KeySpace:
        """The key space a deployment on ``redis_url`` needs: the sharded layout on a cluster."""
        return cls(prefix, shards=shards, cluster=is_cluster_url(redis_url))

    @property
    def sharded(self) -> bool:
        """The hash-tagged layout (see the module docstring)."""
        return self.cluster or self.shards > 1

    # -- queue shards --------------------------------------------------------------

    def new_job_id(self, hex_id: str, shard: int) -> str:
        """A job id placing the job on ``shard``: ``hex_id`` itself in the plain layout."""
        return f"{hex_id}.s{shard % self.shards}" if self.sharded else hex_id

    def shard_of(self, job_id: str) -> int:
        """The queue shard of a job (0 in the plain layout, or for an id naming no shard)."""
        found = _SHARDED_ID.search(job_id) if self.sharded else None
        return int(found.group(1)) % self.shards if found else 0

    def shard_for(self, idempotency_key: str) -> int:
        """The shard where jobs submitted under ``idempotency_key`` are queued (a stable hash)."""
        return zlib.crc32(idempotency_key.encode()) % self.shards

    def _shard_tag(self, shard: int) -> str:
        return "{" + f"{self.prefix}:s{shard}" + "}"

    def _id_tag(self, some_id: str) -> str | None:
        """The hash tag of a run, thread or job id's keys (``None`` in the plain layout)."""
        if not self.sharded:
            return None
        if _SHARDED_ID.search(some_id):
            return self._shard_tag(self.shard_of(some_id))
        return "{" + escape_part(some_id) + "}"

    def _of_id(self, kind: str, some_id: str, *rest: str) -> str:
        """``<prefix>:<kind>:<id>:<rest>``, with the id's tag before the id when sharded."""
        tag = self._id_tag(some_id)
        return self.key(kind, *(() if tag is None else (tag,)), escape_part(some_id), *rest)

    def _of_shard(self, shard: int, *parts: str) -> str:
        """``<prefix>:<parts>`` (shard 0 in the plain layout) or ``<prefix>:{<prefix>:sN}:<parts>``."""
        if not self.sharded:
            return self.key(*parts)
        return self.key(self._shard_tag(shard), *parts)

    def key(self, *parts: str) -> str:
        """Join ``parts`` under the prefix: ``key("run", "r1")`` -> ``orch:run:r1``."""
        return ":".join((self.prefix, *parts))

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of this space."""
        return f"{self.prefix}:*"

    # -- LangGraph checkpoints (orchestrator.store.checkpoint) ---------------------
    # A thread is two keys sharing the Redis Cluster hash tag ``{<thread>}``, so they
    # can be written in one pipeline or MULTI, expire together and go with one DEL. In the
    # sharded layout a job's thread takes its shard's tag instead: ``{<prefix>:sN}:<thread>``.

    def checkpoint_data(self, thread_id: str) -> str:
        """Hash of a thread's checkpoints, pending writes and channel values."""
        return self._checkpoint_key(thread_id, "data")

    def checkpoint_index(self, thread_id: str) -> str:
        """Sorted set ordering the checkpoints and writes of :meth:`checkpoint_data` by name."""
        return self._checkpoint_key(thread_id, "index")

    def checkpoint_thread_keys(self, thread_id: str) -> tuple[str, str]:
        """Every key a checkpointer writes for ``thread_id``."""
        return self.checkpoint_data(thread_id), self.checkpoint_index(thread_id)

    @property
    def checkpoint_index_pattern(self) -> str:
        """A SCAN pattern matching the :meth:`checkpoint_index` key of every thread."""
        return self.key("checkpoint").translate(_GLOB_SPECIALS) + (":{*}*:index" if self.sharded else ":{*}:index")

    def checkpoint_thread_id(self, index_key: str) -> str:
        """The thread id of a :meth:`checkpoint_index` key (as found by a SCAN)."""
        head, tail = self.key("checkpoint", "{"), ":index"
        if not (index_key.startswith(head) and index_key.endswith(tail)):
            raise ValueError(f"not a checkpoint index key of this space: {index_key!r}")
        tagged, close, rest = index_key[len(head) : -len(tail)].partition("}")
        if not close or (rest and not (self.sharded and rest.startswith(":"))):
            raise ValueError(f"not a checkpoint index key of this space: {index_key!r}")
        return unescape_part(rest[1:] if rest else tagged)

    def _checkpoint_key(self, thread_id: str, kind: str) -> str:
        tag = self._id_tag(thread_id)
        if tag is None or not _SHARDED_ID.search(thread_id):
            return self.key("checkpoint", "{" + escape_part(thread_id) + "}", kind)
        return self.key("checkpoint", tag, escape_part(thread_id), kind)

    # -- labelled examples and step traces (orchestrator.learning) -------------------

    def examples(self, specialist: str) -> str:
        """Hash: a specialist's labelled examples, example id -> JSON."""
        return self.key("examples", escape_part(specialist))

    def examples_new(self, specialist: str) -> str:
        """Counter: examples of a specialist kept so far, shared by every process (``distill_every``)."""
        return self.key("examples", escape_part(specialist), "new")

    def distill_lock(self, specialist: str) -> str:
        """String with TTL: held by the process distilling a specialist (one at a time)."""
        return self.key("examples", escape_part(specialist), "distilling")

    def step_trace(self, run_id: str, step_id: str) -> str:
        """String with TTL: what a step read and answered (JSON), kept for feedback on it."""
        return self._of_id("run", run_id, "trace", escape_part(step_id))

    # -- runs, events, conversations (orchestrator.store) and jobs (orchestrator.queue) --
    # Owned by the store/queue work; one method per key, ids escaped with escape_part.

    def run(self, run_id: str) -> str:
        """String: a run's :class:`~orchestrator.types.RunResult` as JSON."""
        return self._of_id("run", run_id)

    def run_events(self, run_id: str) -> str:
        """Stream: a run's events, oldest first."""
        return self._of_id("run", run_id, "events")

    def conversation(self, thread_id: str) -> str:
        """List: a chat thread's messages (JSON), oldest first."""
        return self._of_id("thread", thread_id, "messages")

    @property
    def jobs_stream(self) -> str:
        """Stream: queued job ids, read by workers through :attr:`jobs_group` (shard 0)."""
        return self.shard_stream(0)

    def shard_stream(self, shard: int) -> str:
        """Stream: the job ids queued on ``shard``."""
        return self._of_shard(shard, "jobs", "stream")

    def shard_dead(self, shard: int) -> str:
        """Stream: the jobs of ``shard`` that were dead-lettered."""
        return self._of_shard(shard, "jobs", "dead")

    def shard_index(self, shard: int) -> str:
        """Sorted set: the ids of the jobs queued on ``shard``, scored by creation time."""
        return self._of_shard(shard, "jobs", "index")

    @property
    def jobs_group(self) -> str:
        """The consumer group name on :attr:`jobs_stream` (a name, not a key)."""
        return "workers"

    @property
    def jobs_dead(self) -> str:
        """Stream: dead-lettered jobs (id, error, attempts) (shard 0)."""
        return self.shard_dead(0)

    @property
    def jobs_index(self) -> str:
        """Sorted set: every job id, scored by creation time (for listing) (shard 0)."""
        return self.shard_index(0)

    def job(self, job_id: str) -> str:
        """String: a job record (:class:`~orchestrator.queue.Job`) as JSON."""
        return self._of_id("job", job_id)

    def job_cancel(self, job_id: str) -> str:
        """String flag: cancellation was requested for a job."""
        return self._of_id("job", job_id, "cancel")

    def job_idempotency(self, idempotency_key: str) -> str:
        """String: the job id submitted under an idempotency key (on :meth:`shard_for` of it)."""
        if not self.sharded:
            return self.key("job-idempotency", escape_part(idempotency_key))
        return self._of_shard(self.shard_for(idempotency_key), "job-idempotency", escape_part(idempotency_key))

    def batch(self, batch_id: str) -> str:
        """List: the job ids submitted together as one batch (``submit --input-file``)."""
        return self.key("batch", escape_part(batch_id))

    def worker(self, name: str) -> str:
        """String with TTL: a live worker's status heartbeat (JSON)."""
        return self.key("worker", escape_part(name))

    # -- the plan cache (orchestrator.planning.cache) ---------------------------------
    # One hash tag for every plan key in the sharded layout, so the cache lives in one slot.

    def _plans(self, *parts: str) -> str:
        return self.key("{" + f"{self.prefix}:plans" + "}", *parts) if self.sharded else self.key("plans", *parts)

    def plan(self, cache_key: str) -> str:
        """String with TTL: a cached plan template (:class:`~orchestrator.planning.CacheEntry`) as JSON."""
        return self._plans("entry", escape_part(cache_key))

    def plan_family(self, family: str) -> str:
        """Set: the cache keys of the plans one input signature and catalog share (near matches)."""
        return self._plans("family", escape_part(family))

    @property
    def plans_index(self) -> str:
        """Sorted set: the plan cache's keys, scored by last use (trimmed to the size cap)."""
        return self._plans("index")

    @property
    def jobs_done(self) -> str:
        """Pub/sub channel: the id of each job that reached a final status (wakes waiting clients)."""
        return self.key("jobs", "done")


__all__ = ["CLUSTER_SCHEMES", "DEFAULT_PREFIX", "KeySpace", "escape_part", "is_cluster_url", "unescape_part"]
