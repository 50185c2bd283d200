"""Every Redis key the orchestrator writes, in one place.

All keys live under one prefix (per deployment or tenant), so a deployment can
share a Redis with others and a test can remove exactly what it wrote.
Components receive a :class:`KeySpace` and never format keys themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

DEFAULT_PREFIX = "orch"

_GLOB_SPECIALS = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def escape_part(value: str) -> str:
    """Percent-encode a user-supplied key part so it never contains ``:``, braces or globs.

    ``escape_part("a:b") == "a%3Ab"``; plain identifiers (``[A-Za-z0-9_.~-]``) pass unchanged.
    """
    return quote(value, safe="")


def unescape_part(value: str) -> str:
    """Invert :func:`escape_part`."""
    return unquote(value)


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Names Redis keys under one ``prefix``."""

    prefix: str = DEFAULT_PREFIX

    def key(self, *parts: str) -> str:
        """Join ``parts`` under the prefix: ``key("run", "r1")`` -> ``orch:run:r1``."""
        return ":".join((self.prefix, *parts))

    @property
    def pattern(self) -> str:
        """A SCAN pattern matching every key of this space."""
        return f"{self.prefix}:*"

    # -- LangGraph checkpoints (orchestrator.store.checkpoint) ---------------------
    # A thread is two keys sharing the Redis Cluster hash tag ``{<thread>}``, so they
    # can be written in one pipeline or MULTI, expire together and go with one DEL.

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
        return self.key("checkpoint").translate(_GLOB_SPECIALS) + ":{*}:index"

    def checkpoint_thread_id(self, index_key: str) -> str:
        """The thread id of a :meth:`checkpoint_index` key (as found by a SCAN)."""
        head, tail = self.key("checkpoint", "{"), "}:index"
        if not (index_key.startswith(head) and index_key.endswith(tail)):
            raise ValueError(f"not a checkpoint index key of this space: {index_key!r}")
        return unescape_part(index_key[len(head) : -len(tail)])

    def _checkpoint_key(self, thread_id: str, kind: str) -> str:
        return self.key("checkpoint", "{" + escape_part(thread_id) + "}", kind)

    # -- runs, events, conversations (orchestrator.store) and jobs (orchestrator.queue) --
    # Owned by the store/queue work; one method per key, ids escaped with escape_part.

    def run(self, run_id: str) -> str:
        """String: a run's :class:`~orchestrator.types.RunResult` as JSON."""
        return self.key("run", escape_part(run_id))

    def run_events(self, run_id: str) -> str:
        """Stream: a run's events, oldest first."""
        return self.key("run", escape_part(run_id), "events")

    def conversation(self, thread_id: str) -> str:
        """List: a chat thread's messages (JSON), oldest first."""
        return self.key("thread", escape_part(thread_id), "messages")

    @property
    def jobs_stream(self) -> str:
        """Stream: queued job ids, read by workers through :attr:`jobs_group`."""
        return self.key("jobs", "stream")

    @property
    def jobs_group(self) -> str:
        """The consumer group name on :attr:`jobs_stream` (a name, not a key)."""
        return "workers"

    @property
    def jobs_dead(self) -> str:
        """Stream: dead-lettered jobs (id, error, attempts)."""
        return self.key("jobs", "dead")

    @property
    def jobs_index(self) -> str:
        """Sorted set: every job id, scored by creation time (for listing)."""
        return self.key("jobs", "index")

    def job(self, job_id: str) -> str:
        """String: a job record (:class:`~orchestrator.queue.Job`) as JSON."""
        return self.key("job", escape_part(job_id))

    def job_cancel(self, job_id: str) -> str:
        """String flag: cancellation was requested for a job."""
        return self.key("job", escape_part(job_id), "cancel")

    def job_idempotency(self, idempotency_key: str) -> str:
        """String: the job id submitted under an idempotency key."""
        return self.key("job-idempotency", escape_part(idempotency_key))

    def worker(self, name: str) -> str:
        """String with TTL: a live worker's status heartbeat (JSON)."""
        return self.key("worker", escape_part(name))

    @property
    def jobs_done(self) -> str:
        """Pub/sub channel: the id of each job that reached a final status (wakes waiting clients)."""
        return self.key("jobs", "done")
