"""The portal: one event loop on a helper thread, through which the blocking twins
(``run_sync``, ``stream_sync``, ...) call the async API.

The async methods stay the one implementation; a sync call hands its coroutine to the portal's
loop and waits. The loop lives as long as its owner, so the clients an Orchestrator opens
(Redis, HTTP, model pools) stay on one loop across calls. Because the caller's thread only
waits, this works inside a running loop too (a Jupyter cell, an async framework's thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Portal:
    """An event loop running on a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self, name: str = "orchestrator-sync"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the portal's loop and return its result (or raise its error)."""
        loop = self._started()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a sync method was called from inside the orchestrator's own loop: await the "
                               "async method instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the caller stops the work too
            raise

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """``items`` as a blocking iterator; leaving it early closes the async iterator."""
        try:
            while True:
                try:
                    yield self.call(_next(items))
                except StopAsyncIteration:
                    return
        finally:
            close = getattr(items, "aclose", None)
            if close is not None and self._loop is not None and self._loop.is_running():
                self.call(close())

    def close(self) -> None:
        """Stop the loop and its thread (a later call starts new ones)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _next(items: AsyncIterator[T]) -> T:
    return await items.__anext__()


__all__ = ["Portal"]
