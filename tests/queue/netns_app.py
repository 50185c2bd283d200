"""A worker ``--app`` whose runs hold still just before FINISH, so a test can cut the link then.

:func:`make_runner` wraps :class:`~tests.queue.engine_app.CountingOrchestrator`: when a run has
returned, it INCRs :func:`finishing_key` and waits ``NETNS_FINISH_HOLD`` seconds (default 0)
before handing the result to the worker, whose next write is the job's FINISH.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from orchestrator.events import EventSink
from orchestrator.keys import KeySpace
from orchestrator.settings import Settings
from orchestrator.store.base import Store
from orchestrator.types import RunResult, Sensitivity
from tests.queue.engine_app import CountingOrchestrator

HOLD_ENV = "NETNS_FINISH_HOLD"


def finishing_key(keys: KeySpace, run_id: str) -> str:
    return keys.key("test", "finishing", run_id)


class HeldBeforeFinish:
    """Runs jobs on a counting engine, then says so and holds before the worker records them."""

    def __init__(self, engine: CountingOrchestrator, hold: float) -> None:
        self.engine = engine
        self.hold = hold

    @property
    def store(self) -> Store | None:
        """The engine's (it writes its events itself: the worker must not forward them)."""
        return self.engine.store

    async def run(self, target: str, inputs: Mapping[str, Any], *, run_id: str,
                  sensitivity: Mapping[str, Sensitivity] | None = None, events: EventSink | None = None) -> RunResult:
        result = await self.engine.run(target, inputs, run_id=run_id, sensitivity=sensitivity, events=events)
        await self.engine.counter_client.incr(finishing_key(self.engine.settings.keyspace, run_id))
        await asyncio.sleep(self.hold)
        return result

    async def aclose(self) -> None:
        await self.engine.aclose()


def make_runner(settings: Settings) -> HeldBeforeFinish:
    """The ``--app`` factory."""
    return HeldBeforeFinish(CountingOrchestrator(settings), float(os.environ.get(HOLD_ENV, "0")))
