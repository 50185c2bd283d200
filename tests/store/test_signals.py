"""Signals: wake-ups by name over one pub/sub channel, for one name or thousands."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from orchestrator.keys import KeySpace
from orchestrator.redis.signals import Signals


async def test_a_waiter_on_many_names_is_told_which_fired(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    channel = keyspace.key("signals")
    signals = Signals(redis_client, channel)
    names = [f"n{i}" for i in range(1000)]
    seen: list[set[str] | None] = []
    done: set[str] = set()

    async def check(fired: set[str] | None) -> bool:
        seen.append(None if fired is None else set(fired))
        done.update(fired or ())
        return {"n1", "n2", "n999"} <= done

    waiter = asyncio.create_task(signals.until(names, check, timeout=10))
    await asyncio.sleep(0.3)  # subscribed, and the first check (everything) ran
    await redis_client.publish(channel, "n1 n2 unrelated")
    await asyncio.sleep(0.1)
    await redis_client.publish(channel, "n999")
    assert await waiter
    await signals.aclose()
    assert seen[0] is None  # the first check looks at everything
    assert {"n1", "n2"} in seen[1:] and {"n999"} in seen[1:]  # later ones only at what fired


async def test_until_times_out_false(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    signals = Signals(redis_client, keyspace.key("signals"))

    async def never(_fired: set[str] | None) -> bool:
        return False

    assert await signals.until("x", never, timeout=0.3) is False
    await signals.aclose()
