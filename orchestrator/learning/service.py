"""The flywheel of one deployment: its example store, collector, distillation and versions.

:class:`Learning` is what :class:`~orchestrator.engine.app.Orchestrator` delegates to for
``feedback``, ``distill``, ``versions`` and ``rollback``. Distillation fits on the first
*local* model of the specialist's cascade, so collected examples (confidential ones included,
where kept) are only ever read by models of this deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.engine.guard import may_receive
from orchestrator.engine.registry import Registry
from orchestrator.engine.router import Router
from orchestrator.errors import ConfigError, InputError
from orchestrator.learner import Learner
from orchestrator.learning.audit import Auditor
from orchestrator.learning.collector import Collector
from orchestrator.learning.distill import DistillReport, distill, distilling
from orchestrator.learning.examples import ExampleStore, LabelledExample
from orchestrator.learning.versions import VersionInfo, Versions
from orchestrator.settings.sections import LearningSettings
from orchestrator.types import Sensitivity


class Learning:
    """Examples in, distilled versions out, for every specialist that has a learner."""

    def __init__(self, store: ExampleStore, settings: LearningSettings, registry: Registry, router: Router) -> None:
        self.store = store
        self.settings = settings
        self.registry = registry
        self.router = router
        auditor = Auditor(registry, router, settings) if settings.audit_rate else None
        self.collector = Collector(store, settings, on_enough=self.distill, auditor=auditor)

    async def feedback(self, run_id: str, step_id: str, correct_output: Mapping[str, Any]) -> LabelledExample:
        return await self.collector.feedback(run_id, step_id, correct_output)

    def versions(self, specialist: str) -> Versions:
        self.registry.agent(specialist)  # an unknown name says which exist
        return Versions(self.settings.versions_dir, specialist)

    def learner(self, specialist: str) -> Learner:
        """The specialist's learner on the first local model of its cascade."""
        agent = self.registry.agent(specialist)
        make = getattr(agent, "learner", None)
        if not callable(make):
            raise InputError(f"{specialist!r} cannot learn from examples (it has no learner); "
                             "the classifier and the extractor can")
        for name in self.router.cascade(agent):  # type: ignore[arg-type]
            if may_receive(self.router.pool.spec(name), Sensitivity.CONFIDENTIAL):
                learner: Learner = make(self.router.pool.client(name))
                return learner
        raise ConfigError(f"distilling {specialist!r} needs a local model in its cascade (examples never "
                          "leave the deployment)", key=f"specialists.{specialist}.cascade")

    def live_path(self, specialist: str, learner: Learner) -> Path:
        return learner.live_path or Path(self.settings.versions_dir) / specialist / "live.json"

    async def distill(self, specialist: str) -> DistillReport:
        """Fit a candidate on the collected examples; promote it if no worse on held-out ones.

        Holds the specialist's distillation lock: :class:`~orchestrator.learning.distill.DistillBusy`
        while another process (a worker's automatic distillation) holds it."""
        learner = self.learner(specialist)
        async with distilling(self.store, specialist, self.settings.distill_lock_ttl):
            examples = await self.store.examples(specialist)
            return await distill(examples, learner, self.versions(specialist),
                                 live_path=self.live_path(specialist, learner), holdout=self.settings.holdout)

    def rollback(self, specialist: str, to: str | None = None) -> VersionInfo:
        return self.versions(specialist).rollback(self.live_path(specialist, self.learner(specialist)), to)


__all__ = ["Learning"]
