"""The collector: turns step traces into labelled examples, as runs happen and as feedback comes in.

The executor hands every specialist step to :meth:`Collector.observe`. The collector keeps the
step's trace (its input and answer, for ``trace_ttl`` seconds, so feedback can find the input
again) and, when the step escalated and a larger model of the cascade answered, keeps that
answer as a ``teacher`` example. :meth:`Collector.feedback` turns a person's correction of a
step into a ``feedback`` example, which a later teacher answer never overwrites. With an
:class:`~orchestrator.learning.audit.Auditor` (``[learning] audit_rate``), a sample of the steps
answered locally is also asked of the next model of the cascade, and its answer kept as a
``teacher`` example recording the local answer and whether the two agree (in the background:
:meth:`Collector.drain` waits for audits and distillations under way).

Steps whose input is confidential are neither traced nor kept unless the configuration says
``[learning] keep_confidential = true``; either way nothing here sends data anywhere (the
examples stay in this deployment's store, and distillation embeds them on local models only).

Every ``distill_every`` new examples of a specialist (0: never) the ``on_enough`` callback runs,
e.g. :meth:`Orchestrator.distill <orchestrator.engine.app.Orchestrator>` in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.guard import RunGuard
from orchestrator.errors import InputError
from orchestrator.learning.audit import Auditor
from orchestrator.learning.examples import ExampleStore, LabelledExample, StepTrace
from orchestrator.logging import get_logger
from orchestrator.settings.sections import LearningSettings
from orchestrator.types import Sensitivity, StepResult

log = get_logger(__name__)

OnEnough = Callable[[str], Awaitable[Any]]


class Collector:
    """Feeds an :class:`ExampleStore` from step results and feedback."""

    def __init__(self, store: ExampleStore, settings: LearningSettings | None = None, *,
                 on_enough: OnEnough | None = None, auditor: Auditor | None = None) -> None:
        self.store = store
        self.settings = settings or LearningSettings(enabled=True)
        self.on_enough = on_enough
        self.auditor = auditor
        self._new: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def keeps(self, sensitivity: Sensitivity | None) -> bool:
        """Whether a step at this level may be traced and learned from."""
        return sensitivity is not Sensitivity.CONFIDENTIAL or self.settings.keep_confidential

    async def observe(self, run_id: str, specialist: str, request: BaseModel, result: StepResult,
                      sensitivity: Sensitivity, *, guard: RunGuard | None = None, instruction: str = "") -> None:
        """Trace one finished specialist step; keep a larger model's answer after an escalation.

        With an auditor and the run's ``guard``, a sampled locally answered step is audited too."""
        if not self.keeps(sensitivity):
            return
        data = request.model_dump(mode="json")
        trace = StepTrace(run_id=run_id, step_id=result.step_id, specialist=specialist, input=data,
                          output=result.output, model=result.model, local=result.local,
                          confidence=result.confidence, escalated=result.escalated, sensitivity=sensitivity)
        await self.store.remember(trace, self.settings.trace_ttl)
        if result.status == "completed" and result.escalated and isinstance(result.output, dict):
            example = LabelledExample(specialist=specialist, input=data, output=result.output, source="teacher",
                                      model=result.model, run_id=run_id, step_id=result.step_id,
                                      sensitivity=sensitivity)
            await self._keep(example)
        elif self.auditor is not None and guard is not None and self.auditor.wanted(result, sensitivity):
            self._spawn(self._audit(run_id, specialist, request, result.model_copy(deep=True), sensitivity, guard,
                                    instruction))

    async def _audit(self, run_id: str, specialist: str, request: BaseModel, result: StepResult,
                     sensitivity: Sensitivity, guard: RunGuard, instruction: str) -> None:
        """In the background: ask the next model, keep its answer with the agreement."""
        assert self.auditor is not None
        try:
            audit = await self.auditor.audit(specialist, request, result, sensitivity, guard, instruction)
            if audit is not None:
                await self._keep(LabelledExample(specialist=specialist, input=request.model_dump(mode="json"),
                                                 output=audit.output, source="teacher", model=audit.model,
                                                 run_id=run_id, step_id=result.step_id, sensitivity=sensitivity,
                                                 audit=audit.record))
        except Exception as exc:  # an audit never breaks anything
            log.warning("learning.audit_failed", step=result.step_id, error=str(exc))

    async def feedback(self, run_id: str, step_id: str, correct_output: Mapping[str, Any]) -> LabelledExample:
        """Record ``correct_output`` as what step ``step_id`` of run ``run_id`` should have answered."""
        if not isinstance(correct_output, Mapping) or not correct_output:
            raise InputError("the correct output must be a non-empty JSON object, e.g. {\"label\": \"billing\"}")
        trace = await self.store.trace(run_id, step_id)
        if trace is None:
            raise InputError(
                f"no trace of step {step_id!r} of run {run_id!r}: steps are traced for "
                f"[learning] trace_ttl = {self.settings.trace_ttl}s when [learning] enabled = true "
                "(confidential steps only with keep_confidential = true); check the ids"
            )
        example = LabelledExample(specialist=trace.specialist, input=trace.input, output=dict(correct_output),
                                  source="feedback", run_id=run_id, step_id=step_id, sensitivity=trace.sensitivity)
        await self._keep(example)
        return example

    async def _keep(self, example: LabelledExample) -> None:
        if not await self.store.add(example):
            return
        log.info("learning.example", specialist=example.specialist, source=example.source)
        every = self.settings.distill_every
        if not every or self.on_enough is None:
            return
        count = self._new[example.specialist] = self._new.get(example.specialist, 0) + 1
        if count >= every:
            self._new[example.specialist] = 0
            self._spawn(self._distill(example.specialist))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _distill(self, specialist: str) -> None:
        assert self.on_enough is not None
        try:
            await self.on_enough(specialist)
        except Exception as exc:  # automatic distillation never breaks a run
            log.warning("learning.auto_distill_failed", specialist=specialist, error=str(exc))

    async def drain(self) -> None:
        """Wait for audits and automatic distillations under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = ["Collector", "OnEnough"]
