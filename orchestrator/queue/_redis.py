"""The queue's Redis plumbing: one client, its keys and scripts, and the two ways a job record
changes atomically (a batched Lua script, or a WATCH/MULTI transaction).

:class:`RedisQueueBase` is what the client side (:mod:`orchestrator.queue.client`) and the
worker side (:mod:`orchestrator.queue.leases`) of :class:`~orchestrator.queue.JobQueue` share.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError, WatchError

from orchestrator.errors import ConfigError, StoreError
from orchestrator.keys import KeySpace
from orchestrator.logging import get_logger
from orchestrator.queue import _legacy, scripts
from orchestrator.queue.jobs import Delivery, Job, unknown
from orchestrator.redis.connection import describe, is_cluster, redis_errors, server, text
from orchestrator.redis.signals import Signals
from orchestrator.settings import QueueSettings
from orchestrator.store import RedisStore, Store
from orchestrator.types import Event

log = get_logger(__name__)

WATCH_RETRIES = 100
PAGE = 500
"""Job records read per MGET."""
BATCH = 100
"""Jobs started or finished per script call (a longer script would hold Redis up)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One job's part of a batched transition script: its keys and arguments."""

    job_id: str
    keys: builtins.list[str]
    args: builtins.list[Any]
    shard: int = 0
    """The queue shard of the job: a script call takes the items of one shard (one slot)."""


class RedisQueueBase:
    """A queue's client, keys, settings, run store, scripts and record updates.

    ``store`` (default: a :class:`~orchestrator.store.RedisStore` on ``client``) holds the
    run records and events of jobs. ``client`` is borrowed unless ``owns_client``.
    """

    name = "redis"
    """The backend's name (``/healthz`` says it)."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: KeySpace,
        settings: QueueSettings | None = None,
        *,
        store: Store | None = None,
        owns_client: bool = False,
    ) -> None:
        if is_cluster(client) and not keys.sharded:
            raise ConfigError("the job queue on Redis Cluster needs the sharded key layout: "
                              "KeySpace(prefix, cluster=True), or Settings.keyspace with a redis+cluster:// URL",
                              key="redis_url")
        self.client = client
        self.keys = keys
        self.settings = settings or QueueSettings()
        s = self.settings
        self.store: Store = store or RedisStore(
            client, keys, events_maxlen=s.events_maxlen, events_ttl=s.events_ttl, run_ttl=s.result_ttl
        )
        self._owns_client = owns_client
        self._group_ready = False
        self._group_lock = asyncio.Lock()
        """One caller creates the groups (a cluster client's pools fail, not wait, when full)."""
        self._submit = client.register_script(scripts.SUBMIT)
        self._start = client.register_script(scripts.START)
        self._finish = client.register_script(scripts.FINISH)
        self._signals = Signals(client, keys.jobs_done)
        self._run_store = _same_redis(self.store, client)
        """The store whose run records ``worker_finish`` writes in its own script (else ``save_run``)
        and reads with the job's: a Redis store on this queue's Redis (see :meth:`_runs_here`)."""
        self._run_store_known = self._run_store is not None or not isinstance(self.store, RedisStore)

    async def aclose(self) -> None:
        """Stop listening for finished jobs; close the client if this queue owns it."""
        await self._signals.aclose()
        if self._owns_client:
            await self.client.aclose()

    async def _runs_here(self) -> RedisStore | None:
        """:attr:`_run_store`, once known: a Redis store on another client of the same server
        (on a cluster, one seeded by another node) is found on first use (one ``CLUSTER NODES``)."""
        if not self._run_store_known:
            store = self.store
            if isinstance(store, RedisStore) and (await server(store.client)).same_as(await server(self.client)):
                self._run_store = store
            self._run_store_known = True
        return self._run_store

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        async with self._group_lock:
            if not self._group_ready:
                await self._create_groups()

    async def _create_groups(self) -> None:
        with redis_errors(self.client):
            for shard in range(self.keys.shards):
                try:
                    await self._create_group(self.keys.shard_stream(shard))
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
        self._group_ready = True

    async def _create_group(self, stream: str) -> None:
        if not is_cluster(self.client):
            await self.client.xgroup_create(stream, self.keys.jobs_group, id="0", mkstream=True)
            return
        # sent to the stream's node by name: redis-py's cluster client sometimes finds no key
        # in XGROUP CREATE on a fresh cluster ("No way to dispatch this command")
        cluster: Any = self.client
        await cluster.initialize()
        await cluster.execute_command("XGROUP", "CREATE", stream, self.keys.jobs_group, "0", "MKSTREAM",
                                      target_nodes=cluster.get_node_from_key(stream))

    def _ack(self, pipe: Pipeline, delivery: Delivery) -> None:
        stream = self.keys.shard_stream(delivery.shard)
        pipe.xack(stream, self.keys.jobs_group, delivery.message_id)
        pipe.xdel(stream, delivery.message_id)

    def _item(self, job_id: str, keys: builtins.list[str], args: builtins.list[Any]) -> Item:
        """A job's part of a batched script, on the job's shard."""
        return Item(job_id, keys, args, self.keys.shard_of(job_id))

    async def _emit_end(self, job: Job, reason: str, *, status: str) -> None:
        """Close the job's event stream, so followers of a run that never ran stop waiting."""
        data = {"status": status, "error": reason}
        await self.store.emit(Event(type="run.failed", run_id=job.run_id, data=data))

    async def _batch(self, script: AsyncScript, keys: Callable[[int], builtins.list[str]],
                     args: builtins.list[Any], items: Sequence[Item], *, relayout: bool = True) -> builtins.list[Any]:
        """Run a batched script (the shared ``keys(shard)`` and ``args``, then each item's) on
        ``items``, one call per shard and ``BATCH`` items: one reply per item, in order. With
        ``relayout`` (START, FINISH), records in an older layout are rewritten and their items
        run again (:mod:`orchestrator.queue._legacy`)."""

        async def one_call(chosen: Sequence[Item]) -> builtins.list[Any]:
            shared = keys(chosen[0].shard)
            return builtins.list(await script([*shared, *(k for item in chosen for k in item.keys)],
                                              [*args, *(a for item in chosen for a in item.args)]))

        async def run(chosen: Sequence[Item]) -> builtins.list[Any]:
            by_shard: dict[int, builtins.list[int]] = {}
            for n, item in enumerate(chosen):
                by_shard.setdefault(item.shard, []).append(n)
            replies: builtins.list[Any] = [None] * len(chosen)
            for positions in by_shard.values():
                for start in range(0, len(positions), BATCH):
                    part = positions[start:start + BATCH]
                    for n, reply in zip(part, await one_call([chosen[n] for n in part]), strict=True):
                        replies[n] = reply
            return replies

        with redis_errors(self.client):
            replies = await run(items)
            if not relayout:
                return replies
            redo = []
            for n, reply in enumerate(replies):
                if text(reply[0]) != "relayout":
                    continue
                poison = await _legacy.rewrite(self, items[n].job_id)
                if poison is None:
                    redo.append(n)
                else:
                    replies[n] = [b"poison", poison.encode()]
                    await self._dead_letter_alone(items[n], poison)
            if redo:
                for n, reply in zip(redo, await run([items[n] for n in redo]), strict=True):
                    replies[n] = reply
        for item, reply in zip(items, replies, strict=True):
            if text(reply[0]) == "relayout":
                raise StoreError(f"job {item.job_id}: the record does not have the layout of a Job")
        return replies

    async def _dead_letter_alone(self, item: Item, reason: str) -> None:
        """A poison record: acknowledge its entry (item args: job id, message id, ...), add it to
        the dead-letter stream with ``reason`` and announce it; the record is left as it is."""
        log.error("job.poisoned", job_id=item.job_id, reason=reason)
        async with self.client.pipeline(transaction=True) as pipe:
            self._ack(pipe, Delivery(text(item.args[1]), item.job_id, item.shard))
            pipe.xadd(self.keys.shard_dead(item.shard), {"job": item.job_id, "error": reason, "attempts": "0"},
                      maxlen=self.settings.dead_letters_maxlen)
            announced = self._announce(pipe, item.job_id)
            await pipe.execute()
        if not announced:
            await self.client.publish(self.keys.jobs_done, item.job_id)

    def _announce(self, pipe: Pipeline, job_id: str) -> bool:
        """Announce ``job_id``'s final status on ``jobs_done`` in ``pipe``'s MULTI; False on a
        cluster, whose transactions cannot hold PUBLISH (no slot): the caller publishes right
        after (pub/sub is at most once anyway; waiters also poll)."""
        if is_cluster(self.client):
            return False
        pipe.publish(self.keys.jobs_done, job_id)
        return True

    async def _update(
        self,
        job_id: str,
        change: Callable[[Job], Job | None],
        also: Callable[[Pipeline, Job], None] | None = None,
        *,
        rewrite: bool = False,
    ) -> tuple[Job | None, bool]:
        """Apply ``change`` to a job record atomically (WATCH/MULTI, retried on conflict).

        ``change`` returns the new record, or ``None`` to leave it; ``also`` adds commands to
        the same MULTI. With ``rewrite``, an unchanged record is written back too (in the
        current field order). Returns ``(record, changed)``.
        """
        key = self.keys.job(job_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=True) as pipe:
                for _ in range(WATCH_RETRIES):
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        if raw is None:
                            raise unknown(job_id)
                        current = Job.model_validate_json(raw)  # ValidationError: poison (see _legacy)
                        updated = change(current)
                        if updated is None or (updated == current and not rewrite):
                            await pipe.unwatch()  # type: ignore[no-untyped-call]
                            return current, False
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(key, updated.model_dump_json(), ex=self.settings.result_ttl)
                        if also is not None:
                            also(pipe, updated)
                        await pipe.execute()
                        return updated, True
                    except WatchError:
                        continue
        raise StoreError(f"job {job_id}: record kept changing; gave up after {WATCH_RETRIES} tries")


def deliveries(entries: Any, shard: int = 0) -> builtins.list[Delivery]:
    """The :class:`Delivery` of each stream entry (``[(id, {"job": id})]``) of ``shard``'s stream
    still holding a job."""
    found = []
    for message_id, fields in entries or []:
        if not fields:  # deleted while pending
            continue
        job_id = fields.get(b"job", fields.get("job"))
        if job_id is not None:
            found.append(Delivery(text(message_id), text(job_id), shard))
    return found


def _same_redis(store: Store, client: aioredis.Redis) -> RedisStore | None:
    """``store`` if it is a :class:`RedisStore` on the server ``client`` talks to, as far as
    their names tell (``None`` may still be the same cluster: :meth:`RedisQueueBase._runs_here`)."""
    if isinstance(store, RedisStore) and describe(store.client) == describe(client):
        return store
    return None


def as_json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), default=str)


__all__ = ["BATCH", "PAGE", "WATCH_RETRIES", "Item", "RedisQueueBase", "as_json", "deliveries"]
