"""The key layout: unchanged on one Redis, one hash slot per script on Redis Cluster."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from orchestrator.keys import KeySpace
from orchestrator.settings import Settings


def _slot(key: str) -> int:
    return key_slot(key.encode())


def test_the_plain_layout_keeps_its_names() -> None:
    keys = KeySpace("p")
    assert not keys.sharded
    assert keys.new_job_id("abc", 3) == "abc" and keys.shard_of("abc.s3") == 0
    assert [keys.job("j"), keys.job_cancel("j"), keys.run("j"), keys.run_events("j")] == [
        "p:job:j", "p:job:j:cancel", "p:run:j", "p:run:j:events"]
    assert [keys.jobs_stream, keys.jobs_dead, keys.jobs_index] == ["p:jobs:stream", "p:jobs:dead", "p:jobs:index"]
    assert keys.shard_stream(0) == keys.jobs_stream
    assert keys.job_idempotency("k") == "p:job-idempotency:k"
    assert keys.conversation("t") == "p:thread:t:messages"
    assert keys.checkpoint_data("t") == "p:checkpoint:{t}:data"


@pytest.mark.parametrize("keys", [KeySpace("p", cluster=True), KeySpace("p", shards=4)])
def test_every_key_of_a_job_shares_its_shards_slot(keys: KeySpace) -> None:
    for shard in range(keys.shards):
        job_id = keys.new_job_id("0123abcd", shard)
        assert keys.shard_of(job_id) == shard
        slot = _slot(keys.shard_stream(shard))
        shard_keys = [keys.shard_stream(shard), keys.shard_dead(shard), keys.shard_index(shard), keys.job(job_id),
                      keys.job_cancel(job_id), keys.run(job_id), keys.run_events(job_id),
                      *keys.checkpoint_thread_keys(job_id), keys.conversation(job_id)]
        assert {_slot(key) for key in shard_keys} == {slot}
        assert all(key.startswith("p:") for key in shard_keys)


def test_shards_spread_over_slots_and_idempotency_keys_live_where_their_job_is_queued() -> None:
    keys = KeySpace("p", shards=8)
    assert len({_slot(keys.shard_stream(n)) for n in range(8)}) == 8
    for name in ("a", "b", "order-17", "x:y"):
        shard = keys.shard_for(name)
        assert _slot(keys.job_idempotency(name)) == _slot(keys.shard_stream(shard))


def test_ids_naming_no_shard_are_their_own_tag() -> None:
    keys = KeySpace("p", cluster=True)
    assert keys.run("r1") == "p:run:{r1}:r1"
    assert _slot(keys.run("r1")) == _slot(keys.run_events("r1")) == _slot(keys.checkpoint_data("r1"))
    assert keys.checkpoint_data("r1") == "p:checkpoint:{r1}:data"  # the plain layout's name
    for thread_id in ("r1", "a:{b}", keys.new_job_id("ff", 0)):
        assert keys.checkpoint_thread_id(keys.checkpoint_index(thread_id)) == thread_id


def test_the_deployment_chooses_the_layout_from_its_url() -> None:
    assert Settings(redis_url="redis://127.0.0.1:6379/0").keyspace == KeySpace("orch")
    clustered = Settings(redis_url="redis+cluster://127.0.0.1:7000", queue={"shards": 6}).keyspace
    assert (clustered.cluster, clustered.shards) == (True, 6)
    with pytest.raises(ValueError, match="at least one"):
        KeySpace("p", shards=0)
    with pytest.raises(ValueError, match="without braces"):
        KeySpace("{p}", cluster=True)
