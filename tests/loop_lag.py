"""A ticker that measures how long the event loop stalls: ``async with LoopLag() as lag: ...; lag.worst``."""

from __future__ import annotations

import asyncio
import time


class LoopLag:
    """Sleeps ``tick`` seconds in a loop and records the worst overshoot (the longest stall)."""

    def __init__(self, tick: float = 0.02):
        self.tick = tick
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.worst = max(self.worst, time.perf_counter() - before - self.tick)
            self.ticks += 1

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


__all__ = ["LoopLag"]
