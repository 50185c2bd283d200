"""The Orchestrator's learning side, as a mixin: the example store, feedback and distillation.

Kept out of :mod:`orchestrator.engine.app` so the facade stays one screenful per concern; the
:class:`~orchestrator.engine.app.Orchestrator` inherits it and wires the collector into its
executor when ``[learning] enabled = true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UserError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from orchestrator.engine.registry import Registry
    from orchestrator.engine.router import Router
    from orchestrator.learning import DistillReport, LabelledExample, Learning
    from orchestrator.settings import Settings


class LearningMixin:
    """``learning``, ``feedback`` and ``distill`` for the Orchestrator."""

    settings: Settings
    registry: Registry
    router: Router
    _learning: Learning | None = None

    if TYPE_CHECKING:
        def _redis(self, purpose: str) -> aioredis.Redis: ...

    @property
    def learning(self) -> Learning:
        """Labelled examples, feedback, distillation and versions (in Redis when configured)."""
        if self._learning is None:
            from orchestrator.learning import Learning, MemoryExampleStore, RedisExampleStore

            examples = (RedisExampleStore(self._redis("the example store"), self.settings.keyspace)
                        if self.settings.redis_url else MemoryExampleStore())
            self._learning = Learning(examples, self.settings.learning, self.registry, self.router)
        return self._learning

    async def _drain_learning(self) -> None:
        """Wait for audits and automatic distillations under way (before the models close)."""
        if self._learning is not None:
            await self._learning.collector.drain()

    async def feedback(self, run_id: str, step_id: str, correct_output: Mapping[str, Any]) -> LabelledExample:
        """Record what step ``step_id`` of run ``run_id`` should have answered, as a labelled example."""
        if not self.settings.learning.enabled:
            raise UserError("feedback needs [learning] enabled = true (steps are traced only then)")
        return await self.learning.feedback(run_id, step_id, correct_output)

    async def distill(self, specialist: str = "classifier") -> DistillReport:
        """Fit ``specialist`` on its collected examples; promote the candidate if no worse on held-out ones."""
        return await self.learning.distill(specialist)


__all__ = ["LearningMixin"]
