"""Batch runs: one workflow over many items, a bounded number at once, results as they finish.

::

    async with Orchestrator() as orch:
        async for item in orch.run_many("ticket_triage", [{"ticket": t} for t in tickets], concurrency=16):
            print(item.id, item.status, item.answer or item.error)

Each item is its own run. A failing item (a failed run, or inputs the workflow refuses) is
yielded with ``ok=False`` and its reason while the others go on. Results come in the order
they finish; ``item.index`` and ``item.id`` say which input each one is. Leaving the loop
early (``break``, cancellation, Ctrl-C) cancels the runs still in flight; ``skip`` names ids
already done, which is how a re-run resumes (see :mod:`orchestrator.engine.batch_files`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from orchestrator.errors import OrchestratorError, UserError
from orchestrator.types import StepResult

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.plan import Plan
    from orchestrator.types import RunResult, Sensitivity
    from orchestrator.workflow import Workflow


class BatchItem(BaseModel):
    """One input of a batch: its id (stable across re-runs) and the workflow's inputs."""

    id: str
    """Names the item in the results file; re-runs skip ids already there."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    """The workflow's inputs for this item (e.g. ``{"ticket": "..."}``)."""
    index: int = 0
    """Position in the input (0-based)."""
    line: int | None = None
    """The item's line in its input file (1-based), for messages about it."""


class ItemResult(BaseModel):
    """What became of one item: the run's answer, or why it failed."""

    id: str
    index: int
    ok: bool
    status: str
    """The run's status (``completed``, ``failed``, ``budget_exceeded`` ...) or ``rejected`` when
    the item never became a run (e.g. inputs the workflow refuses)."""
    answer: Any = None
    error: str | None = None
    """Why the item failed, for the results file; None when it succeeded."""
    run_id: str | None = None
    cost_usd: float = 0.0
    saving_usd: float = 0.0
    duration_ms: float = 0.0
    steps: list[StepResult] | None = None
    """The run's per-step trace, kept only when the batch asks for it (``BatchConfig.keep_steps``,
    e.g. for an evaluation); None otherwise, so results files stay small."""


@dataclass
class BatchProgress:
    """The running totals of a batch, handed to ``on_progress`` after each item."""

    total: int | None
    """Items to run this time (None when the input is a stream of unknown length)."""
    skipped: int = 0
    """Items left out because ``skip`` named them (done in an earlier run)."""
    done: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    saving_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items finished per second so far."""
        return self.done / self.elapsed if self.done and self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until the last item, at the rate so far (None when unknown)."""
        if self.total is None or not self.rate:
            return None
        return max(0, self.total - self.done) / self.rate

    def line(self) -> str:
        """``120/10000 items  14.2/s  eta 11m35s  3 failed  cost $0.0000  saved $0.0123``."""
        total = "?" if self.total is None else str(self.total)
        eta = "-" if self.eta is None else _duration(self.eta)
        return (f"{self.done}/{total} items  {self.rate:.1f}/s  eta {eta}  {self.failed} failed  "
                f"cost ${self.cost_usd:.4f}  saved ${self.saving_usd:.4f}")


Items = Iterable[Mapping[str, Any] | BatchItem] | AsyncIterable[Mapping[str, Any] | BatchItem]
"""Plain input mappings (ids are their positions) or :class:`BatchItem` s, sync or async."""


@dataclass
class BatchConfig:
    """How :func:`run_many` runs a batch."""

    concurrency: int = 8
    """Items in flight at once."""
    skip: Collection[str] = ()
    """Ids not to run again (already in the results of an earlier run)."""
    sensitivity: Mapping[str, Sensitivity | str] | None = None
    """Sensitivity of the inputs, as for :meth:`Orchestrator.run`, for every item."""
    total: int | None = None
    """How many items the input holds, for the ETA (counted for a list when not given)."""
    on_progress: Callable[[BatchProgress], None] | None = None
    """Called after each item (and once at the start) with the running totals."""
    keep_steps: bool = False
    """Keep each run's step results on its :class:`ItemResult` (``steps``)."""


async def run_many(orch: Orchestrator, target: str | Plan | Workflow, items: Items, options: BatchConfig | None = None
                   ) -> AsyncIterator[ItemResult]:
    """Run ``target`` once per item, ``options.concurrency`` at a time; yield each result as it ends."""
    opts = options or BatchConfig()
    if opts.concurrency < 1:
        raise UserError(f"concurrency must be at least 1, not {opts.concurrency}")
    skip = frozenset(opts.skip)
    total = opts.total if opts.total is not None else (len(items) if isinstance(items, Collection) else None)
    progress = BatchProgress(total=total)
    pending = _pending(items, skip, progress)
    finished: asyncio.Queue[ItemResult | None] = asyncio.Queue()
    lock = asyncio.Lock()

    async def worker() -> None:
        while True:
            async with lock:  # one reader of the input at a time
                item = await anext(pending, None)
            if item is None:
                return
            await finished.put(await _run_one(orch, target, item, opts))

    workers = [asyncio.create_task(worker(), name=f"batch-{n}") for n in range(opts.concurrency)]
    watcher = asyncio.create_task(_close_when_done(workers, finished))
    _report(opts, progress)
    try:
        while (result := await finished.get()) is not None:
            progress.done += 1
            progress.failed += not result.ok
            progress.cost_usd += result.cost_usd
            progress.saving_usd += result.saving_usd
            _report(opts, progress)
            yield result
        for task in workers:  # a worker that raised (the input itself failed) ends the batch
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in (*workers, watcher):
            task.cancel()
        await asyncio.gather(*workers, watcher, return_exceptions=True)


async def _pending(items: Items, skip: frozenset[str], progress: BatchProgress) -> AsyncIterator[BatchItem]:
    """The items to run, as BatchItems, without the skipped ones (counted off the total)."""
    index = 0
    async for raw in _aiter(items):
        item = raw if isinstance(raw, BatchItem) else BatchItem(id=str(index), inputs=dict(raw), index=index)
        index += 1
        if item.id in skip:
            progress.skipped += 1
            if progress.total is not None:
                progress.total -= 1
            continue
        yield item


async def _aiter(items: Items) -> AsyncIterator[Mapping[str, Any] | BatchItem]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _close_when_done(workers: list[asyncio.Task[None]], finished: asyncio.Queue[ItemResult | None]) -> None:
    await asyncio.wait(workers)
    await finished.put(None)


async def _run_one(orch: Orchestrator, target: str | Plan | Workflow, item: BatchItem,
                   opts: BatchConfig) -> ItemResult:
    started = time.perf_counter()
    try:
        result = await orch.run(target, item.inputs, sensitivity=opts.sensitivity)
    except OrchestratorError as exc:  # e.g. inputs this workflow refuses: record why, go on
        return ItemResult(id=item.id, index=item.index, ok=False,
                          status="rejected" if isinstance(exc, UserError) else "failed",
                          error=f"{type(exc).__name__}: {exc}", duration_ms=(time.perf_counter() - started) * 1000)
    return _from_run(item, result, keep_steps=opts.keep_steps)


def _from_run(item: BatchItem, result: RunResult, *, keep_steps: bool = False) -> ItemResult:
    return ItemResult(id=item.id, index=item.index, ok=result.ok, status=result.status, answer=result.answer,
                      error=None if result.ok else (result.error or result.status), run_id=result.run_id,
                      cost_usd=result.cost.cost_usd, saving_usd=result.cost.saving_usd,
                      duration_ms=result.duration_ms, steps=result.steps if keep_steps else None)


def _report(opts: BatchConfig, progress: BatchProgress) -> None:
    if opts.on_progress is not None:
        opts.on_progress(progress)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


__all__ = ["BatchConfig", "BatchItem", "BatchProgress", "ItemResult", "Items", "run_many"]
