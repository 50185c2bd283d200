"""Waiting on a Redis pub/sub channel: one subscription per process, any number of waiters.

::

    signals = Signals(client, keys.jobs_done)
    done = await signals.until(job_id, is_finished, timeout=30)   # publishers: PUBLISH <channel> "<id> <id> ..."

A waiter registers under one name or many, then checks its condition once the subscription is
confirmed (so nothing published in between is missed), and again each time a message carries
one of its names. The check is told which names fired since its last call (``None``: it must
look at everything), so a waiter on thousands of names does O(1) work per message.
Pub/sub delivers at most once: when the subscription breaks, every waiter is woken to check,
and until it is back they poll every ``poll_interval`` seconds. The listening task runs only
while somebody waits (it stops ``linger`` seconds after the last one) and :meth:`aclose` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from orchestrator.logging import get_logger
from orchestrator.redis.connection import text

log = get_logger(__name__)

_SUBSCRIBE_WAIT = 2.0
"""How long a waiter waits for the subscription before it checks (and polls) anyway."""

Check = Callable[[set[str] | None], Awaitable[bool]]
"""A waiter's condition; it gets the names fired since its last call, or ``None`` (look at all)."""


class _Waiter:
    """One waiting ``until``: its wake-up and the names that fired since its last check."""

    __slots__ = ("fired", "wake")

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.fired: set[str] | None = None

    def fire(self, name: str | None) -> None:
        if name is None:
            self.fired = None
        elif self.fired is not None:
            self.fired.add(name)
        self.wake.set()

    def take(self) -> set[str] | None:
        fired, self.fired = self.fired, set()
        self.wake.clear()
        return fired


class Signals:
    """Wake-ups by name over one pub/sub channel (a message holds names, separated by spaces)."""

    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        *,
        poll_interval: float = 1.0,
        safety_interval: float = 30.0,
        linger: float = 0.5,
    ) -> None:
        self.client = client
        self.channel = channel
        self.poll_interval = poll_interval
        """How often waiters check while the subscription is down."""
        self.safety_interval = safety_interval
        """How often waiters check while it is up (in case a message was lost anyway)."""
        self.linger = linger
        self._waiters: dict[str, set[_Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        """Set once the listener is subscribed, or has failed to (waiters then poll)."""
        self._subscribed = False

    async def until(
        self,
        names: str | Iterable[str],
        check: Check,
        timeout: float | None = None,  # noqa: ASYNC109 - returns False, raises nothing
    ) -> bool:
        """Wait until ``check(fired)`` is true, re-checking when one of ``names`` is published
        (or, without a message, every ``safety_interval``/``poll_interval``); false on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        names = [names] if isinstance(names, str) else list(dict.fromkeys(names))
        waiter = _Waiter()
        for name in names:
            self._waiters.setdefault(name, set()).add(waiter)
        try:
            self._ensure_listener()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SUBSCRIBE_WAIT if timeout is None else min(_SUBSCRIBE_WAIT, timeout)):
                    await self._settled.wait()
            while not await check(waiter.take()):
                pause = self.safety_interval if self._subscribed else self.poll_interval
                if deadline is not None:
                    pause = min(pause, deadline - time.monotonic())
                    if pause <= 0:
                        return False
                try:
                    async with asyncio.timeout(pause):
                        await waiter.wake.wait()
                except TimeoutError:
                    waiter.fire(None)  # no message: look at everything
                self._ensure_listener()  # it may have stopped while this waiter was polling
            return True
        finally:
            for name in names:
                waiters = self._waiters.get(name)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiters[name]

    async def aclose(self) -> None:
        """Stop listening (waiters still waiting fall back to polling)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _ensure_listener(self) -> None:
        if self._task is None:
            self._settled.clear()
            self._subscribed = False
            self._task = asyncio.create_task(self._listen(), name=f"signals:{self.channel}")

    def _wake_all(self) -> None:
        for waiter in {w for waiters in self._waiters.values() for w in waiters}:
            waiter.fire(None)

    async def _listen(self) -> None:
        """Subscribe, wake the waiters named by messages; reconnect after failures."""
        me = asyncio.current_task()
        try:
            while self._waiters:
                try:
                    await self._subscription()
                except (RedisError, OSError) as exc:
                    log.warning("signals.unavailable", channel=self.channel, error=str(exc))
                    self._subscribed = False
                    self._settled.set()
                    self._wake_all()  # switch them to polling
                    await asyncio.sleep(self.poll_interval)
        finally:
            if self._task is me:
                self._task = None
            self._subscribed = False

    async def _subscription(self) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            idle_since: float | None = None
            while True:
                message = await pubsub.get_message(timeout=self.linger)
                if message is None:
                    if self._waiters:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since >= self.linger:
                        return
                    continue
                if message["type"] == "subscribe":
                    self._subscribed = True
                    self._settled.set()
                    self._wake_all()  # anything published while we were not subscribed
                elif message["type"] == "message":
                    for name in text(message["data"]).split(" "):
                        for waiter in self._waiters.get(name, ()):
                            waiter.fire(name)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


__all__ = ["Signals"]
