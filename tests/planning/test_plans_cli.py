"""``orchestrator plans list|show|clear`` on a Redis plan cache."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from orchestrator.interfaces.cli import main
from orchestrator.keys import KeySpace
from orchestrator.planning import CacheEntry, RedisPlanCache, plan_key
from tests.conftest import REDIS_URL
from tests.planning.conftest import GOOD


async def test_plans_commands_list_show_and_clear(redis_client: aioredis.Redis, keyspace: KeySpace,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    key = plan_key("write a haiku about this text", {"text": "x"}, "cat1")
    await RedisPlanCache(redis_client, keyspace).put(CacheEntry.make(key, GOOD))
    monkeypatch.setenv("ORCHESTRATOR_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("ORCHESTRATOR_KEY_PREFIX", keyspace.prefix)

    assert await _run(["plans", "list"]) == 0
    listed = capsys.readouterr().out
    assert key.key[:12] in listed and listed.rstrip().endswith("haiku")
    assert await _run(["plans", "show", key.key[:8]]) == 0
    shown = capsys.readouterr().out
    assert "inputs: text (str)" in shown and "say              echo" in shown
    assert await _run(["plans", "show", "nope"]) != 0
    assert "no cached plan with a key starting 'nope'" in capsys.readouterr().err
    assert await _run(["plans", "clear"]) == 0
    assert "removed 1 cached plans" in capsys.readouterr().out
    assert await RedisPlanCache(redis_client, keyspace).entries() == []


async def _run(argv: list[str]) -> int:
    import asyncio

    return await asyncio.to_thread(main, argv)  # the command runs its own event loop
