"""LangGraph checkpoints on plain Redis: core commands only.

:class:`RedisCheckpointer` works on Redis >= 6.2, Valkey and managed services. It uses one
hash and one lexicographic sorted set per thread, written through pipelines; no RedisJSON,
no RediSearch. Key names come from :class:`~orchestrator.keys.KeySpace`. Inside a queued
job's attempt, writes are fenced (:mod:`orchestrator.redis.fencing`: one Lua script checks
that the attempt still owns the job, then writes); a stale attempt's writes are refused.

Key layout: two keys per thread (``{t}`` is the escaped thread id; as a Redis Cluster hash
tag it keeps a thread in one slot)::

    <prefix>:checkpoint:{t}:data    hash
        c:<ns>:<checkpoint id>                      -> checkpoint record
        w:<ns>:<checkpoint id>:<task id>:<idx>      -> write record
        b:<ns>:<channel>:<version>                  -> channel value
    <prefix>:checkpoint:{t}:index   sorted set, every score 0, ordered by member
        c:<ns>:<checkpoint id>
        w:<ns>:<checkpoint id>:<task id>:<idx>

In the sharded layout (Redis Cluster, :mod:`orchestrator.keys`) a queued job's thread (its id
names its queue shard) is ``<prefix>:checkpoint:{<prefix>:sN}:<t>:data|index`` instead, so its
checkpoints share the slot of the job record that fences their writes.

Every part of a field is percent-escaped (:func:`~orchestrator.keys.escape_part`), so no part
contains ``:`` and ids or namespaces such as ``"child:1"`` stay unambiguous. A lexicographic
range of the index selects one namespace's checkpoints (``[c:<ns>: .. (c:<ns>;``) or one
checkpoint's writes (``[w:<ns>:<id>: .. (w:<ns>:<id>;``). Checkpoint ids are monotonic
UUIDv6 strings, so the last checkpoint member of a namespace is its newest checkpoint.
Channel values are stored once per ``(channel, version)``, as ``InMemorySaver`` stores its
blobs, and shared by the checkpoints that reference them.

Records are msgpack arrays holding ``serde.dumps_typed`` pairs (type name, bytes):

- checkpoint: ``[checkpoint type, checkpoint bytes, metadata type, metadata bytes, parent id]``
  (the checkpoint without its ``channel_values``)
- write: ``[task id, channel, value type, value bytes, task path, idx]``
- channel value: ``[value type, value bytes]``

``aput`` and ``aput_writes`` are one round trip each; ``aget_tuple`` is two (three for "the
newest"); ``adelete_thread`` is one ``DEL``. Writes put data in the hash before its member in
the index, and readers only follow the index, so a reader never sees a checkpoint or a task's
writes half stored, without the cost of MULTI/EXEC. With a ``ttl``, every write refreshes the
expiry of both keys (inside MULTI/EXEC, so no key is ever left without one), and a thread
expires as a whole ``ttl`` after its last write.

A Redis that is unreachable or fails raises :class:`~orchestrator.errors.StoreError` (naming
the server, never its password), as the run store does.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

import ormsgpack
import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from redis.typing import EncodableT, FieldT

from orchestrator.errors import ConfigError
from orchestrator.keys import KeySpace, escape_part, unescape_part
from orchestrator.redis import fencing
from orchestrator.redis.connection import connect, connection_options, redis_errors

__all__ = ["RedisCheckpointer"]

_CHECKPOINT, _WRITE, _BLOB = "c", "w", "b"
"""Kinds of field in a thread's data hash (the first part of each field)."""

_EMPTY = "empty"
"""Type name of a channel that has a version but no value (as in ``InMemorySaver``)."""

_PAGE_SIZE = 100
"""How many checkpoints ``alist`` reads per round trip."""

_SYNC_UNSUPPORTED = (
    "RedisCheckpointer is async-only: use the async API (aget_tuple, alist, aput, "
    "aput_writes, adelete_thread) and run graphs with ainvoke/astream"
)


@dataclass(frozen=True, slots=True)
class _Stored:
    """One checkpoint record as read from a thread's data hash."""

    thread_id: str
    ns: str
    checkpoint: dict[str, Any]
    metadata: CheckpointMetadata
    parent_id: str | None


class RedisCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer on plain Redis (see the module docstring for the layout).

    ``client`` must return bytes (``decode_responses=False``, the default). With ``ttl``,
    a thread's keys expire ``ttl`` after the thread's last write.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        keys: KeySpace = KeySpace(),  # noqa: B008 - KeySpace is frozen
        ttl: timedelta | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if connection_options(client).get("decode_responses"):
            raise ConfigError(
                "RedisCheckpointer needs a client with decode_responses=False",
                key="decode_responses",
            )
        if ttl is not None and ttl <= timedelta(0):
            raise ConfigError(f"must be positive, got {ttl}", key="ttl")
        self.client = client
        self.keys = keys
        self.ttl = ttl
        self._ttl_ms = None if ttl is None else max(1, int(ttl.total_seconds() * 1000))
        self._owns_client = False
        # MULTI/EXEC only buys something with a TTL: data and its expiry land together.
        self._atomic = ttl is not None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        keys: KeySpace = KeySpace(),  # noqa: B008 - KeySpace is frozen
        ttl: timedelta | None = None,
        serde: SerializerProtocol | None = None,
    ) -> Self:
        """Connect to ``url``; the client is closed by :meth:`aclose` or ``async with``."""
        saver = cls(connect(url), keys=keys, ttl=ttl, serde=serde)
        saver._owns_client = True
        return saver

    async def aclose(self) -> None:
        """Close the client if :meth:`from_url` created it; a client passed in stays open."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- reads -----------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint ``config`` names, or the newest of its thread and namespace."""
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        ns: str = conf.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id:
            member = _join(_CHECKPOINT, ns, checkpoint_id)
        else:
            within = _join(_CHECKPOINT, ns)
            with redis_errors(self.client):
                newest: list[bytes | str] = await self.client.zrevrangebylex(
                    self.keys.checkpoint_index(thread_id), f"({within};", f"[{within}:", start=0, num=1
                )
            if not newest:
                return None
            member = _text(newest[0])
        found = await self._load(thread_id, [member], filter=None, limit=None)
        return found[0] if found else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first, by thread, namespace, metadata ``filter`` and ``before``.

        Without ``config`` every thread of the key space is listed (found with SCAN); without
        ``checkpoint_ns`` in ``config`` every namespace of the thread is.
        """
        if limit is not None and limit <= 0:
            return
        conf: Mapping[str, Any] = config["configurable"] if config else {}
        ns: str | None = conf.get("checkpoint_ns")
        wanted_id: str | None = conf.get("checkpoint_id")
        before_id = get_checkpoint_id(before) if before else None
        remaining = limit
        for thread_id in [conf["thread_id"]] if config else await self._thread_ids():
            async for page in self._index_pages(thread_id, ns, wanted_id, before_id):
                for found in await self._load(thread_id, page, filter=filter, limit=remaining):
                    yield found
                    if remaining is not None:
                        remaining -= 1
                        if remaining == 0:
                            return

    async def _thread_ids(self) -> list[str]:
        pattern = self.keys.checkpoint_index_pattern
        with redis_errors(self.client):
            return [
                self.keys.checkpoint_thread_id(_text(key))
                async for key in self.client.scan_iter(match=pattern, count=500)
            ]

    async def _index_pages(
        self, thread_id: str, ns: str | None, wanted_id: str | None, before_id: str | None
    ) -> AsyncIterator[list[str]]:
        """Checkpoint members newest first, a page at a time, within ``ns`` when it is given."""
        if ns is not None and wanted_id:
            if before_id is None or escape_part(wanted_id) < escape_part(before_id):
                yield [_join(_CHECKPOINT, ns, wanted_id)]
            return
        within = _CHECKPOINT if ns is None else _join(_CHECKPOINT, ns)
        low = f"[{within}:"
        upper = _join(_CHECKPOINT, ns, before_id) if ns is not None and before_id else f"{within};"
        high = f"({upper}"
        index_key = self.keys.checkpoint_index(thread_id)
        while True:
            with redis_errors(self.client):
                raw: list[bytes | str] = await self.client.zrevrangebylex(
                    index_key, high, low, start=0, num=_PAGE_SIZE
                )
            members = [_text(m) for m in raw]
            if members:
                high = f"({members[-1]}"
            if ns is None and (wanted_id or before_id):
                members = [m for m in members if _id_matches(m, wanted_id, before_id)]
            if members:
                yield members
            if len(raw) < _PAGE_SIZE:
                return

    async def _load(
        self,
        thread_id: str,
        members: list[str],
        *,
        filter: dict[str, Any] | None,
        limit: int | None,
    ) -> list[CheckpointTuple]:
        """Read checkpoints by member in two round trips, keeping the order of ``members``."""
        data_key, index_key = self.keys.checkpoint_thread_keys(thread_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hmget(data_key, members)
                for member in members:
                    writes = _WRITE + member[len(_CHECKPOINT) :]
                    pipe.zrangebylex(index_key, f"[{writes}:", f"({writes};")
                records, *fields_per_member = await pipe.execute()

        chosen: list[tuple[_Stored, list[str]]] = []
        for member, record, fields in zip(members, records, fields_per_member, strict=True):
            if record is None:
                continue
            stored = self._decode_checkpoint(thread_id, member, record)
            if filter and not all(stored.metadata.get(k) == v for k, v in filter.items()):
                continue
            chosen.append((stored, [_text(f) for f in fields]))
            if limit is not None and len(chosen) >= limit:
                break
        if not chosen:
            return []

        wanted = {
            _join(_BLOB, s.ns, channel, str(version)): None
            for s, _ in chosen
            for channel, version in s.checkpoint["channel_versions"].items()
        }
        wanted.update((field, None) for _, fields in chosen for field in fields)
        fields = list(wanted)
        with redis_errors(self.client):
            values: list[bytes | str | None] = await self.client.hmget(data_key, fields) if fields else []
        found = {f: v for f, v in zip(fields, values, strict=True) if isinstance(v, bytes)}
        return [
            self._tuple(stored, found, [w for f in write_fields if (w := found.get(f))])
            for stored, write_fields in chosen
        ]

    def _decode_checkpoint(self, thread_id: str, member: str, record: bytes) -> _Stored:
        ctype, cbytes, mtype, mbytes, parent_id = ormsgpack.unpackb(record)
        ns_part = member.split(":", 2)[1]
        return _Stored(
            thread_id=thread_id,
            ns=unescape_part(ns_part),
            checkpoint=self.serde.loads_typed((ctype, cbytes)),
            metadata=self.serde.loads_typed((mtype, mbytes)),
            parent_id=parent_id,
        )

    def _tuple(self, stored: _Stored, blobs: Mapping[str, bytes], writes: list[bytes]) -> CheckpointTuple:
        values: dict[str, Any] = {}
        for channel, version in stored.checkpoint["channel_versions"].items():
            blob = blobs.get(_join(_BLOB, stored.ns, channel, str(version)))
            if blob is None:
                continue
            vtype, vbytes = ormsgpack.unpackb(blob)
            if vtype != _EMPTY:
                values[channel] = self.serde.loads_typed((vtype, vbytes))
        decoded = sorted(
            (ormsgpack.unpackb(w) for w in writes),
            key=lambda w: writes_sort_key(w[4], w[0], w[5]),
        )
        pending: list[PendingWrite] = [
            (task_id, channel, self.serde.loads_typed((vtype, vbytes)))
            for task_id, channel, vtype, vbytes, _path, _idx in decoded
        ]
        checkpoint: Checkpoint = {**stored.checkpoint, "channel_values": values}  # type: ignore[typeddict-item]
        return CheckpointTuple(
            config=_config(stored.thread_id, stored.ns, checkpoint["id"]),
            checkpoint=checkpoint,
            metadata=stored.metadata,
            parent_config=(
                _config(stored.thread_id, stored.ns, stored.parent_id) if stored.parent_id else None
            ),
            pending_writes=pending,
        )

    # -- writes ----------------------------------------------------------------

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store ``checkpoint`` and the channel values in ``new_versions``: one round trip."""
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        ns: str = conf.get("checkpoint_ns", "")
        values = checkpoint["channel_values"]
        body = {k: v for k, v in checkpoint.items() if k != "channel_values"}
        record = ormsgpack.packb(
            [
                *self.serde.dumps_typed(body),
                *self.serde.dumps_typed(get_checkpoint_metadata(config, metadata)),
                conf.get("checkpoint_id"),
            ]
        )
        member = _join(_CHECKPOINT, ns, checkpoint["id"])
        fields: dict[FieldT, EncodableT] = {member: record}
        for channel, version in new_versions.items():
            value = self.serde.dumps_typed(values[channel]) if channel in values else (_EMPTY, b"")
            fields[_join(_BLOB, ns, channel, str(version))] = ormsgpack.packb(value)
        data_key, index_key = self.keys.checkpoint_thread_keys(thread_id)
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=self._atomic) as pipe:
                pipe.hset(data_key, mapping=fields)
                pipe.zadd(index_key, {member: 0})
                self._refresh_ttl(pipe, data_key, index_key)
                await fencing.execute(self.client, pipe, "checkpoint")
        return _config(thread_id, ns, checkpoint["id"])

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes for the checkpoint in ``config``: one round trip.

        A regular write never replaces one already stored at the same ``(task_id, idx)``;
        special writes (errors, interrupts, ...) have fixed negative indexes and replace.
        """
        if not writes:
            return
        conf = config["configurable"]
        thread_id: str = conf["thread_id"]
        field_prefix = _join(_WRITE, conf.get("checkpoint_ns", ""), conf["checkpoint_id"], task_id)
        data_key, index_key = self.keys.checkpoint_thread_keys(thread_id)
        index: dict[str, int] = {}
        with redis_errors(self.client):
            async with self.client.pipeline(transaction=self._atomic) as pipe:
                for position, (channel, value) in enumerate(writes):
                    idx = WRITES_IDX_MAP.get(channel, position)
                    field = f"{field_prefix}:{idx}"
                    record = ormsgpack.packb([task_id, channel, *self.serde.dumps_typed(value), task_path, idx])
                    if idx >= 0:
                        pipe.hsetnx(data_key, field, record)
                    else:
                        pipe.hset(data_key, field, record)
                    index[field] = 0
                pipe.zadd(index_key, index)
                self._refresh_ttl(pipe, data_key, index_key)
                await fencing.execute(self.client, pipe, "step writes")

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and channel value of ``thread_id``."""
        with redis_errors(self.client):
            await self.client.delete(*self.keys.checkpoint_thread_keys(thread_id))

    def _refresh_ttl(self, pipe: aioredis.client.Pipeline, *keys: str) -> None:
        if self._ttl_ms is not None:
            for key in keys:
                pipe.pexpire(key, self._ttl_ms)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """``<counter>.<random>``: increasing, and unique across forks (as ``InMemorySaver``)."""
        counter = 0 if current is None else int(str(current).split(".")[0])
        return f"{counter + 1:032}.{random.random():016}"

    # -- the sync API is not supported ------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        raise NotImplementedError(_SYNC_UNSUPPORTED)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        raise NotImplementedError(_SYNC_UNSUPPORTED)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError(_SYNC_UNSUPPORTED)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        raise NotImplementedError(_SYNC_UNSUPPORTED)

    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError(_SYNC_UNSUPPORTED)


def _join(*parts: str) -> str:
    """A field of the data hash or a member of the index: escaped ``parts`` joined by ``:``."""
    return ":".join(escape_part(part) for part in parts)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_matches(member: str, wanted_id: str | None, before_id: str | None) -> bool:
    """Whether a checkpoint member names ``wanted_id`` and is older than ``before_id``."""
    id_part = member.rpartition(":")[2]
    if wanted_id and id_part != escape_part(wanted_id):
        return False
    return before_id is None or id_part < escape_part(before_id)


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }
