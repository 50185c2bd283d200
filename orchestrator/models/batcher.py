"""The embedding batcher: concurrent ``embed`` calls to one encoder coalesced into one forward pass.

Each call queues its texts and awaits a future. A drain task (started by the first call
that finds none running; it ends when the queue is empty, so nothing outlives the work)
waits up to ``max_wait`` seconds for more calls, unless ``max_batch`` texts are already
waiting, then encodes the distinct texts it took in one call of ``encode`` in a thread
(off the event loop) and hands each caller its rows. While one pass runs, the next batch
fills up; with ``passes`` above 1 (an encoder with several processes), up to that many passes
run at once, a new drain starting when calls wait and every drain is busy in a pass. Texts
seen recently are answered from a small LRU cache keyed by text, so the steps of one run that
embed the same ticket sentences pay for them once.

::

    batcher = EmbeddingBatcher(lambda texts: encoder.encode(texts).tolist(), max_batch=64)
    vectors = await batcher.embed(["where is my refund?"])
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

Encode = Callable[[list[str]], list[list[float]]] | Callable[[list[str]], Awaitable[list[list[float]]]]
"""Texts in, one vector per text out: a blocking function (run in a worker thread) or a
coroutine function that keeps the event loop free itself (an encoder process's)."""

Runner = Callable[[Callable[[], Awaitable[list[list[float]]]]], Awaitable[list[list[float]]]]
"""Wraps one pass (e.g. a model's call policy: timeout, error mapping)."""


class BatchOptions(BaseModel):
    """How an encoder batches (model ``options``: ``max_batch``, ``max_wait_ms``, ``cache_size``)."""

    model_config = ConfigDict(extra="ignore")

    max_batch: int = Field(default=64, ge=1)
    """Most texts one forward pass encodes; a full batch goes without waiting."""
    max_wait_ms: float = Field(default=2.0, ge=0)
    """How long the first call of a batch waits for company before the pass starts."""
    cache_size: int = Field(default=2048, ge=0)
    """Distinct texts whose vectors are kept (least recently used out first); 0 turns it off."""
    passes: int = Field(default=1, ge=1)
    """Passes run at once (set by the model: one per encoder process)."""


@dataclass
class _Request:
    texts: list[str]
    done: asyncio.Future[list[list[float]]]


@dataclass
class BatchStats:
    """What the batcher did, for benchmarks and tests."""

    calls: int = 0
    """``embed`` calls answered."""
    passes: int = 0
    """Forward passes run (calls of ``encode``)."""
    encoded: int = 0
    """Texts encoded (the rest came from the cache or were duplicates in a batch)."""
    cached: int = 0
    """Texts answered without queueing: from the cache, or repeated within one call."""
    sizes: list[int] = field(default_factory=list)
    """Texts per pass, most recent last (the last 1,000)."""


class EmbeddingBatcher:
    """Coalesces concurrent ``embed`` calls on one event loop into batched passes of ``encode``."""

    def __init__(self, encode: Encode, options: BatchOptions | None = None, *, runner: Runner | None = None):
        self._encode = encode
        self.options = options or BatchOptions()
        self._runner = runner
        self._queue: list[_Request] = []
        self._waiting = 0
        self._full = asyncio.Event()
        self._drains: set[asyncio.Task[None]] = set()
        self._filling = 0
        """Drains waiting for a batch to fill (at most one: the others are in a pass or ended)."""
        self._cache: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self.stats = BatchStats()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; the same values an unbatched ``encode`` would give."""
        wanted = list(texts)
        if not wanted:
            return []
        known = {t: self._cache[t] for t in wanted if t in self._cache}
        for text in known:
            self._cache.move_to_end(text)
        missing = list(dict.fromkeys(t for t in wanted if t not in known))
        self.stats.calls += 1
        self.stats.cached += len(wanted) - len(missing)
        fresh: dict[str, list[float]] = {}
        if missing:
            fresh = dict(zip(missing, await self._queued(missing), strict=True))
        return [list(known[t]) if t in known else list(fresh[t]) for t in wanted]

    async def _queued(self, texts: list[str]) -> list[list[float]]:
        done: asyncio.Future[list[list[float]]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(texts, done))
        self._waiting += len(texts)
        if self._waiting >= self.options.max_batch:
            self._full.set()
        self._kick()
        return await done

    def _kick(self) -> None:
        """Start a drain when calls wait, none is gathering a batch, and a pass may start."""
        if self._queue and not self._filling and len(self._drains) < self.options.passes:
            self._drains.add(asyncio.create_task(self._run_queue(), name="embedding-batcher"))

    async def _run_queue(self) -> None:
        """Run passes while calls are waiting and no other drain gathers them; then end (the next
        call starts a new drain)."""
        try:
            await self._drain_queue()
        finally:  # at once, not in a done callback: a call arriving next must see this drain gone
            self._drains.discard(asyncio.current_task())

    async def _drain_queue(self) -> None:
        while self._queue and not self._filling:
            if self._waiting < self.options.max_batch and self.options.max_wait_ms > 0:
                self._filling += 1
                try:
                    async with asyncio.timeout(self.options.max_wait_ms / 1000):
                        await self._full.wait()
                except TimeoutError:
                    pass
                finally:
                    self._filling -= 1
            requests = self._take()
            self._kick()  # more waiting than one pass takes, or arriving during it: another pass may start
            try:
                await self._pass(requests)
            except asyncio.CancelledError:  # closed mid-pass: nobody is left waiting forever
                for request in requests:
                    request.done.cancel()
                raise

    def _take(self) -> list[_Request]:
        """Requests for one pass: whole calls, up to ``max_batch`` texts (a bigger call goes alone)."""
        taken: list[_Request] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0].texts) <= self.options.max_batch):
            request = self._queue.pop(0)
            taken.append(request)
            size += len(request.texts)
        self._waiting -= size
        if self._waiting < self.options.max_batch:
            self._full.clear()
        return taken

    async def _pass(self, requests: list[_Request]) -> None:
        live = [r for r in requests if not r.done.done()]  # a cancelled caller needs nothing
        texts = list(dict.fromkeys(t for r in live for t in r.texts))
        if not texts:
            return
        try:
            rows = dict(zip(texts, await self._encoded(texts), strict=True))  # a row short is a failure too
        except Exception as exc:  # every caller of the pass gets the failure
            for request in live:
                if not request.done.done():
                    request.done.set_exception(exc)
            return
        self._remember(rows)
        self.stats.passes += 1
        self.stats.encoded += len(texts)
        self.stats.sizes = [*self.stats.sizes[-999:], len(texts)]
        for request in live:
            if not request.done.done():
                request.done.set_result([rows[t] for t in request.texts])

    async def _encoded(self, texts: list[str]) -> list[list[float]]:
        async def one_pass() -> list[list[float]]:
            if inspect.iscoroutinefunction(self._encode):
                rows: list[list[float]] = await self._encode(texts)
                return rows
            return await asyncio.to_thread(self._encode, texts)  # type: ignore[arg-type]

        return await (self._runner(one_pass) if self._runner is not None else one_pass())

    def _remember(self, rows: dict[str, list[float]]) -> None:
        if self.options.cache_size == 0:
            return
        for text, vector in rows.items():
            self._cache[text] = tuple(vector)
            self._cache.move_to_end(text)
        while len(self._cache) > self.options.cache_size:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Empty the cache (e.g. between benchmark rounds over the same texts)."""
        self._cache.clear()

    async def aclose(self) -> None:
        """Stop a drain still running (its callers get CancelledError) and forget the cache."""
        drains = list(self._drains)
        for drain in drains:
            drain.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        self._drains.clear()  # a drain cancelled before it ran never removed itself
        for request in self._queue:
            request.done.cancel()
        self._queue.clear()
        self._waiting = 0
        self._cache.clear()


__all__ = ["BatchOptions", "BatchStats", "EmbeddingBatcher", "Encode"]
