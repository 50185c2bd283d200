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

Audits are paid for: :meth:`Collector.settle` (the executor calls it as a run finishes) waits
for the run's audits and puts their cost on the steps they audited (``StepResult.audit_cost_usd``,
summed into the run's :class:`~orchestrator.types.CostReport`), so the step is not slowed but
the run's record says what checking it cost.

A fan-out's items are traced and audited one by one, as ``<step id>[<item>]`` (from 0), so
feedback on ``classify[2]`` corrects the third item, not whichever item finished last.

Every ``distill_every`` new examples of a specialist (0: never) the ``on_enough`` callback runs,
e.g. :meth:`Orchestrator.distill <orchestrator.engine.app.Orchestrator>` in the background. The
count is the example store's (a Redis counter when Redis is used), so several workers together
distil once every ``distill_every`` examples, not each of them; a distillation holds the store's
lock (:func:`~orchestrator.learning.distill.distilling`), so two never run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from pydantic import BaseModel

from orchestrator.engine.guard import RunGuard
from orchestrator.errors import InputError
from orchestrator.learning.audit import Audit, Auditor
from orchestrator.learning.distill import DistillBusy
from orchestrator.learning.examples import ExampleStore, LabelledExample, StepTrace
from orchestrator.logging import get_logger
from orchestrator.models.base import Usage
from orchestrator.settings.sections import LearningSettings
from orchestrator.types import Sensitivity, StepResult

log = get_logger(__name__)

OnEnough = Callable[[str], Awaitable[Any]]

MAX_UNSETTLED_RUNS = 10_000
"""Runs whose audits are remembered until :meth:`Collector.settle` (a run that never finishes
here, e.g. cancelled, is forgotten once this many others are waiting)."""


def item_step_id(step_id: str, item: int | None) -> str:
    """How a step is named in traces and examples: ``step_id``, or ``step_id[item]`` for a fan-out item."""
    return step_id if item is None else f"{step_id}[{item}]"


class Collector:
    """Feeds an :class:`ExampleStore` from step results and feedback."""

    def __init__(self, store: ExampleStore, settings: LearningSettings | None = None, *,
                 on_enough: OnEnough | None = None, auditor: Auditor | None = None) -> None:
        self.store = store
        self.settings = settings or LearningSettings(enabled=True)
        self.on_enough = on_enough
        self.auditor = auditor
        self._tasks: set[asyncio.Task[Any]] = set()
        self._audits: dict[str, list[asyncio.Task[Audit | None]]] = {}
        """Audit tasks of each run not yet settled, by run id."""

    def keeps(self, sensitivity: Sensitivity | None) -> bool:
        """Whether a step at this level may be traced and learned from."""
        return sensitivity is not Sensitivity.CONFIDENTIAL or self.settings.keep_confidential

    async def observe(self, run_id: str, specialist: str, request: BaseModel, result: StepResult,
                      sensitivity: Sensitivity, *, guard: RunGuard | None = None, instruction: str = "",
                      item: int | None = None) -> None:
        """Trace one finished specialist step (``item``: its position in a fan-out); keep a larger
        model's answer after an escalation.

        With an auditor and the run's ``guard``, a sampled locally answered step is audited too."""
        if not self.keeps(sensitivity):
            return
        step_id = item_step_id(result.step_id, item)
        data = request.model_dump(mode="json")
        trace = StepTrace(run_id=run_id, step_id=step_id, specialist=specialist, input=data,
                          output=result.output, model=result.model, local=result.local,
                          confidence=result.confidence, escalated=result.escalated, sensitivity=sensitivity)
        await self.store.remember(trace, self.settings.trace_ttl)
        if result.status == "completed" and result.escalated and isinstance(result.output, dict):
            example = LabelledExample(specialist=specialist, input=data, output=result.output, source="teacher",
                                      model=result.model, run_id=run_id, step_id=step_id,
                                      sensitivity=sensitivity)
            await self._keep(example)
        elif self.auditor is not None and guard is not None:
            rate = self.auditor.sampled(result, sensitivity)
            if rate is not None:
                self._audit_later(run_id, self._audit(run_id, specialist, request, result.model_copy(deep=True),
                                                      sensitivity, guard, instruction, rate, step_id))

    async def _audit(self, run_id: str, specialist: str, request: BaseModel, result: StepResult,
                     sensitivity: Sensitivity, guard: RunGuard, instruction: str, rate: float,
                     step_id: str) -> Audit | None:
        """In the background: ask the next model, keep its answer with the agreement."""
        assert self.auditor is not None
        try:
            audit = await self.auditor.audit(specialist, request, result, sensitivity, guard, instruction,
                                             rate=rate, step_id=step_id)
        except Exception as exc:  # an audit never breaks anything
            log.warning("learning.audit_failed", step=step_id, error=str(exc))
            return None
        if audit is not None and audit.output is not None:
            try:
                await self._keep(LabelledExample(specialist=specialist, input=request.model_dump(mode="json"),
                                                 output=audit.output, source="teacher", model=audit.model,
                                                 run_id=run_id, step_id=step_id, sensitivity=sensitivity,
                                                 audit=audit.record))
            except Exception as exc:  # the teacher answered and was paid: its cost still goes on the step
                log.warning("learning.audit_not_kept", step=step_id, error=str(exc), cost_usd=audit.cost_usd)
        return audit

    def _audit_later(self, run_id: str, work: Coroutine[Any, Any, Audit | None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if run_id not in self._audits and len(self._audits) >= MAX_UNSETTLED_RUNS:
            self._audits.pop(next(iter(self._audits)))
        self._audits.setdefault(run_id, []).append(task)

    async def settle(self, run_id: str, steps: list[StepResult]) -> list[StepResult]:
        """Wait for the audits of run ``run_id`` and put their cost on the steps they audited
        (``audit_cost_usd`` and ``audit_usage``; a fan-out's items add up on their step)."""
        tasks = self._audits.pop(run_id, [])
        if not tasks:
            return steps
        spent: dict[str, tuple[Usage, float]] = {}
        for audit in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(audit, Audit):
                usage, cost = spent.get(audit.step_id, (Usage(), 0.0))
                spent[audit.step_id] = (usage + audit.usage, cost + audit.cost_usd)
        for step in steps:
            if step.step_id in spent:
                usage, cost = spent[step.step_id]
                step.audit_usage, step.audit_cost_usd = step.audit_usage + usage, step.audit_cost_usd + cost
        return steps

    async def feedback(self, run_id: str, step_id: str, correct_output: Mapping[str, Any]) -> LabelledExample:
        """Record ``correct_output`` as what step ``step_id`` of run ``run_id`` should have answered."""
        if not isinstance(correct_output, Mapping) or not correct_output:
            raise InputError("the correct output must be a non-empty JSON object, e.g. {\"label\": \"billing\"}")
        trace = await self.store.trace(run_id, step_id)
        if trace is None and await self.store.trace(run_id, item_step_id(step_id, 0)) is not None:
            raise InputError(f"step {step_id!r} of run {run_id!r} fanned out over items: correct one of them, "
                             f"{item_step_id(step_id, 0)!r} for the first (from 0), {item_step_id(step_id, 1)!r} "
                             "for the second, ...")
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
        if await self.store.count_new(example.specialist) % every == 0:  # one process sees each multiple
            self._spawn(self._distill(example.specialist))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _distill(self, specialist: str) -> None:
        assert self.on_enough is not None
        try:
            await self.on_enough(specialist)
        except DistillBusy as exc:  # another process is on it; the next multiple of distill_every tries again
            log.info("learning.auto_distill_skipped", specialist=specialist, reason=str(exc))
        except Exception as exc:  # automatic distillation never breaks a run
            log.warning("learning.auto_distill_failed", specialist=specialist, error=str(exc))

    async def drain(self) -> None:
        """Wait for audits and automatic distillations under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


__all__ = ["MAX_UNSETTLED_RUNS", "Collector", "OnEnough", "item_step_id"]
