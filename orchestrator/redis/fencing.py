"""Fencing: a job attempt's writes are applied only while that attempt owns the job.

Every attempt of a queued job carries a token, its attempt number (only the queue's START
script increments it, atomically). A job record that says ``"status":"running"`` with that
number is owned by that attempt; once another worker reclaims the job (a new START) or the
job ends, the old attempt's token is stale. The worker runs each attempt in a context holding
its :class:`Fence` (:func:`run_fenced`); the Redis store and checkpointer send their writes
through :func:`execute`, which, inside that context, runs the whole pipeline as one Lua script
that first checks the token against the job record: a stale attempt's write is refused,
logged and raised as :class:`~orchestrator.errors.LeaseLost`, never applied. Outside a fenced
context (``Orchestrator.run`` called directly) writes go as they are.

The check and the write are one script, so they must run on the server holding the job record:
an attempt's write to another Redis (a run store or checkpointer not on the queue's Redis)
cannot be fenced and is refused with a :class:`~orchestrator.errors.ConfigError` saying so
(:func:`check_same_server`; the worker checks what it can see when it starts). Servers are
compared by :class:`~orchestrator.redis.connection.Server`: one Redis by its address, a
Redis Cluster by its nodes' ids, so clients of one cluster seeded by different nodes are one
server (the script runs on whichever master holds the job's slot), and another cluster is not.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from orchestrator.errors import ConfigError, LeaseLost
from orchestrator.logging import get_logger
from orchestrator.redis.connection import Server, queued_commands, redis_errors, server

log = get_logger(__name__)

T = TypeVar("T")

OWNS = """
local function owns(job_key, token)
  local raw = redis.call('GET', job_key)
  if not raw then return false end
  -- the greedy head makes the last ',"status":' the one matched: the record's own, not one in its inputs
  local status, attempts = string.match(raw, '^.*,"status":"(%a+)","attempts":(%d+),"error":.-,"worker":.-,'
    .. '"started_at":[^,]-,"finished_at":[^,]-,"dead_lettered":%a+}$')
  return status == 'running' and attempts == token
end
"""
"""Lua: does attempt ``token`` own the job whose record is at ``job_key``? (The record's state
is its tail, see :mod:`orchestrator.queue.scripts`.)"""

FENCED = OWNS + """
-- KEYS: the job record; ARGV: token, number of commands, then per command: its length, its words
if not owns(KEYS[1], ARGV[1]) then return 0 end
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""
"""Run a pipeline's commands only if the attempt owns the job: 1 if applied, 0 if refused."""


@dataclass(frozen=True, slots=True)
class Fence:
    """One attempt's right to write: the job, its record's key, the attempt's token, and the
    Redis server holding the record (writes to other servers are not fenced)."""

    job_id: str
    record_key: str
    token: int
    server: Server


_current: ContextVar[Fence | None] = ContextVar("orchestrator_fence", default=None)


def run_fenced(fence: Fence, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
    """A task running ``coro`` with ``fence`` current: every write it makes through :func:`execute`
    (and those of the tasks it starts) is fenced."""
    context = contextvars.copy_context()
    context.run(_current.set, fence)
    return asyncio.get_running_loop().create_task(coro, name=name, context=context)


async def current(client: aioredis.Redis) -> Fence | None:
    """The fence of the running attempt (``None`` outside one); :class:`ConfigError` if its job
    record is not on ``client``'s server (the write could not be fenced)."""
    fence = _current.get()
    if fence is not None:
        check_same_server(fence.server, await server(client), "a job's run writes")
    return fence


def check_same_server(queue: Server, other: Server, what: str) -> None:
    """:class:`ConfigError` unless ``other`` (where ``what`` go) is the queue's server ``queue``."""
    if not other.same_as(queue):
        where = f"Redis at {other.name}"
        if other.nodes and queue.nodes:
            where = f"another Redis Cluster ({other.name}: no node in common with the queue's)"
        raise ConfigError(
            f"{what} go to {where}, but the job queue is at {queue.name}: a stale attempt's writes can be "
            f"refused (fenced) only on the queue's Redis. Give the queue, the run store and the checkpointer "
            f"one Redis (one redis_url, as Orchestrator(settings) does)", key="redis_url")


async def execute(client: aioredis.Redis, pipe: Pipeline, what: str) -> None:
    """Send ``pipe``'s commands: as they are, or, inside a fenced attempt, only if it still owns
    its job (one script, so the check and the writes are atomic). ``what`` names the write in
    the log and in :class:`~orchestrator.errors.LeaseLost`."""
    fence = await current(client)
    if fence is None:
        with redis_errors(client):
            await pipe.execute()
        return
    commands = queued_commands(pipe)
    words: list[Any] = [fence.token, len(commands)]
    for args in commands:
        words += [len(args), *args]
    with redis_errors(client):
        applied = await client.register_script(FENCED)(keys=[fence.record_key], args=words)
    if not applied:
        log.warning("write.refused", job_id=fence.job_id, attempt=fence.token, write=what,
                    reason="the attempt no longer owns the job")
        raise LeaseLost(fence.job_id, fence.token, what)


__all__ = ["FENCED", "OWNS", "Fence", "check_same_server", "current", "execute", "run_fenced"]
