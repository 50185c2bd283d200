"""Coalescing: calls made in the same turn of the event loop go to Redis as one batch.

::

    finish = Coalescer(finish_many)        # finish_many(items) -> one result per item, in order
    result = await finish(item)            # concurrent callers share one round trip

The first call of a turn schedules a flush for the end of the turn (``loop.call_soon``);
every call until then joins its batch. The flush runs as a task the coalescer owns
(:meth:`aclose` waits for it); a failure of the batch is raised to each of its callers, and a
caller that stops waiting does not stop the batch. With one caller at a time, each call is a
batch of one: nothing waits for company (the cost is one event-loop turn).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Batches concurrent calls into calls of ``run_batch`` (at most ``max_batch`` items each)."""

    def __init__(self, run_batch: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_batch: int = 100) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append((item, future))
        return await future  # cancelling a caller cancels its future only, not the batch

    async def aclose(self) -> None:
        """Send the calls of this turn now, then wait for the batches in flight."""
        if self._pending:
            self._flush()
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_batch):
            task = asyncio.get_running_loop().create_task(self._send(pending[start:start + self._max_batch]))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run_batch([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else RuntimeError(f"batch interrupted: {exc!r}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


__all__ = ["Coalescer"]
