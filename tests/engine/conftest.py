"""Engine fixtures: every checkpointer a deployment may run on."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

from orchestrator.keys import KeySpace
from orchestrator.store.checkpoint import RedisCheckpointer


@pytest.fixture(params=["memory", "redis"])
def checkpointer(request: pytest.FixtureRequest, redis_client: aioredis.Redis,
                 keyspace: KeySpace) -> BaseCheckpointSaver[Any]:
    """In-process, and Redis (real, under the test's key prefix, cleaned up afterwards)."""
    if request.param == "memory":
        return InMemorySaver()
    return RedisCheckpointer(redis_client, keys=keyspace)
