"""Lease renewal that a lost packet cannot defeat (found by the lossy netns link).

A renewal that gets no answer is neither cancelled nor waited for: the next one, due a third of
the visibility timeout later, is sent beside it, and the lease holds. (The worker used to bound
each maintenance round by cancelling it: a cancelled call costs its connection, on a cluster
every node's when it was refreshing the topology, and reconnecting on a lossy link took seconds:
leases were lost.) On one Redis and on the local Redis Cluster.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import redis.asyncio as aioredis

from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.queue import JobQueue, QueueSettings, Worker
from orchestrator.types import RunResult, Sensitivity
from tests.conftest import TOPOLOGIES, parametrize_topology
from tests.queue.conftest import running

SETTINGS = QueueSettings(visibility_timeout=3.0, max_attempts=3, worker_concurrency=2, result_ttl=600,
                         events_ttl=600, shutdown_grace=2.0, poll_interval=0.05)
ANSWERED = 2
"""Renewals answered after the hung one before the run may end."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_topology(metafunc, TOPOLOGIES)


class _FirstRenewalHangs(JobQueue):
    """The first lease renewal gets no answer until ``answer_first`` is set (its packet was lost);
    the others are answered at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answer_first = asyncio.Event()
        self.answered_after_it = asyncio.Event()
        self.renewals = 0
        self.first: str = "pending"

    async def worker_touch(self, consumer: str, message_ids: builtins.list[str], *, shard: int = 0) -> set[str]:
        if not message_ids:
            return set()
        self.renewals += 1
        if self.renewals == 1:
            try:
                await self.answer_first.wait()
            except asyncio.CancelledError:
                self.first = "cancelled"
                raise
            self.first = "answered"
        lost = await super().worker_touch(consumer, message_ids, shard=shard)
        if self.renewals > ANSWERED:
            self.answered_after_it.set()
        return lost


class _UntilRenewed:
    """A run that ends once the lease was renewed twice beside the hung renewal."""

    def __init__(self, queue: _FirstRenewalHangs) -> None:
        self.queue = queue

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None,
                  events: EventSink | None = None) -> RunResult:
        await self.queue.answered_after_it.wait()
        return RunResult(run_id=run_id, status="completed", answer=dict(inputs))


@pytest.fixture
async def hanging(redis_client: aioredis.Redis, keyspace: KeySpace) -> AsyncIterator[_FirstRenewalHangs]:
    queue = _FirstRenewalHangs(redis_client, keyspace, SETTINGS)
    yield queue
    queue.answer_first.set()
    await queue.aclose()


async def test_a_renewal_without_an_answer_is_neither_cancelled_nor_waited_for(hanging: _FirstRenewalHangs) -> None:
    worker = Worker(_UntilRenewed(hanging), hanging, name="w")
    async with running(worker):
        job_id = await hanging.submit("anything", {"n": 1})
        [job] = await hanging.wait([job_id], timeout=30)
        assert hanging.first == "pending"  # still waiting for its answer, not cancelled
        hanging.answer_first.set()
        for _ in range(100):  # bounded: the late answer arrives and is taken
            if hanging.first != "pending":
                break
            await asyncio.sleep(0.02)
    assert (job.status, job.attempts, job.worker) == ("completed", 1, "w")
    assert hanging.renewals > ANSWERED and hanging.first == "answered"
    assert worker._stats.leases_lost == 0
