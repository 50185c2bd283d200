"""Running a target over labelled cases and scoring it: :func:`evaluate`.

The target is a workflow (by name or object) or one specialist or tool by name; a specialist
runs as a one-step plan whose inputs are the mapped columns and whose answer is the step's
output fields. Cases run through the batch machinery (:func:`~orchestrator.engine.batch.run_many`,
``concurrency`` at once, the step traces kept); each run is scored as it ends, and the report
is built once all have.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.engine.batch import BatchConfig, BatchItem, BatchProgress, ItemResult, run_many
from orchestrator.errors import InputError, OrchestratorError, UnknownNameError, UserError
from orchestrator.evaluation.dataset import Case, ColumnMap, read_cases
from orchestrator.evaluation.metrics import percentile
from orchestrator.evaluation.outcome import FieldOutcome, ItemScore, Source, outcome, source_of
from orchestrator.evaluation.report import EvalReport, ItemError, field_report, thresholds_by_agent
from orchestrator.plan import Plan, Step
from orchestrator.specialist import Specialist
from orchestrator.types import Sensitivity
from orchestrator.workflow import Workflow

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator

MAX_ERRORS = 20
"""Failures listed in a report (all are counted)."""

Dataset = str | Path | Iterable[Mapping[str, Any]]
"""A ``.jsonl``/``.csv`` path, or the rows themselves (mappings of column to value)."""


@dataclass
class EvalOptions:
    """How :func:`evaluate` maps the data and runs it."""

    expect: Sequence[str] | Mapping[str, str]
    """Scored answer fields: ``["category=label"]`` strings (``FIELD=COLUMN[:METRIC]``) or ``{field: column}``."""
    inputs: Sequence[str] | Mapping[str, str] = ()
    """Input mapping, ``["ticket=text"]`` or ``{input: column}``; empty: every other column, by name."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """A single specialist's params (e.g. ``{"labels": [...]}``); not used for workflows."""
    concurrency: int = 8
    target_accuracy: float | None = None
    """Find, per field, the confidence threshold that keeps local accuracy at this level."""
    conservative: bool = False
    """Ask the Wilson lower bound of local accuracy (not the observed one) to reach the target."""
    sensitivity: Mapping[str, Sensitivity | str] | None = None
    on_progress: Callable[[BatchProgress], None] | None = None
    on_item: Callable[[ItemScore], None] | None = None
    """Called with each item's scores as it finishes (e.g. to write them out for error analysis)."""
    limit: int | None = None
    """Score only the first ``limit`` items of the dataset."""
    warmup: bool = False
    """Run the first case once, unscored, before the timed runs (model loading out of the latencies)."""


async def evaluate(orch: Orchestrator, target: str | Workflow, dataset: Dataset, options: EvalOptions) -> EvalReport:
    """Run ``target`` on every case of ``dataset`` and score the answers (see :mod:`orchestrator.evaluation`)."""
    if options.target_accuracy is not None and not 0 < options.target_accuracy <= 1:
        raise UserError(f"target accuracy {options.target_accuracy} is not in (0, 1]; pass e.g. 0.95")
    if options.limit is not None and options.limit < 1:
        raise UserError(f"limit must be at least 1, not {options.limit}")
    mapping = ColumnMap.parse(expect=_strings(options.expect), inputs=_strings(options.inputs))
    cases = _cases(dataset, mapping)[:options.limit]
    if not cases:
        raise InputError(f"dataset {_name(dataset)!r} has no items")
    if len({case.id for case in cases}) != len(cases):
        raise InputError(f"dataset {_name(dataset)!r}: item ids repeat; give each row a unique 'id' (or none)")
    run_target, output_refs, name = _target(orch, target, cases[0], options.params, mapping)
    tally = _Tally(mapping, {e.field: source_of(output_refs, e.path) for e in mapping.expect},
                   {case.id: case for case in cases}, options.on_item)
    if options.warmup:
        await _warm_up(orch, run_target, cases[0], options.sensitivity)
    started = time.perf_counter()
    batch = BatchConfig(concurrency=options.concurrency, sensitivity=options.sensitivity, total=len(cases),
                        on_progress=options.on_progress, keep_steps=True)
    items = [BatchItem(id=case.id, inputs=case.inputs, index=case.index) for case in cases]
    async for result in run_many(orch, run_target, items, batch):
        tally.add(result)
    agents = _agents(run_target, orch)
    fields = []
    for e in mapping.expect:
        step = source.step_id if (source := tally.sources[e.field]) is not None else None
        fields.append(field_report(e, tally.outcomes.get(e.field, []), step=step, agent=agents.get(step or ""),
                                   target_accuracy=options.target_accuracy, conservative=options.conservative))
    baseline_model = orch.router.baseline.ref if orch.router.baseline else None
    thresholds = thresholds_by_agent(fields) if options.target_accuracy is not None else {}
    return EvalReport(
        target=name, dataset=_name(dataset), items=len(cases), failed=tally.failed, fields=fields,
        cost_usd=tally.cost, baseline_cost_usd=tally.baseline, baseline_model=baseline_model,
        latency_p50_ms=percentile(tally.latencies, 50), latency_p95_ms=percentile(tally.latencies, 95),
        seconds=time.perf_counter() - started, errors=tally.errors, thresholds=thresholds,
        notes=_notes(orch, thresholds))


@dataclass
class _Tally:
    """The scores and totals of the runs so far."""

    mapping: ColumnMap
    sources: dict[str, Source | None]
    cases: dict[str, Case]
    on_item: Callable[[ItemScore], None] | None
    outcomes: dict[str, list[FieldOutcome]] = field(default_factory=dict)
    errors: list[ItemError] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    cost: float = 0.0
    baseline: float = 0.0

    def add(self, result: ItemResult) -> None:
        case, steps = self.cases[result.id], result.steps or []
        scored = {e.field: outcome(e, case.expected[e.field], result.answer, self.sources[e.field], steps)
                  for e in self.mapping.expect}
        for name, scored_field in scored.items():
            self.outcomes.setdefault(name, []).append(scored_field)
        if self.on_item is not None:
            self.on_item(ItemScore(id=result.id, ok=result.ok, error=result.error, run_id=result.run_id,
                                   duration_ms=result.duration_ms, fields=scored))
        self.latencies.append(result.duration_ms)
        self.cost += result.cost_usd
        self.baseline += sum(s.baseline_cost_usd for s in steps)
        if not result.ok:
            self.failed += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append(ItemError(id=result.id, error=result.error or result.status))


async def _warm_up(orch: Orchestrator, target: str | Plan | Workflow, case: Case,
                   sensitivity: Mapping[str, Sensitivity | str] | None) -> None:
    with contextlib.suppress(OrchestratorError):  # the timed run of the same case records the failure
        await orch.run(target, case.inputs, sensitivity=sensitivity)


def _notes(orch: Orchestrator, thresholds: Mapping[str, float | None]) -> list[str]:
    """Warn where a threshold would fail steps rather than escalate them (one model in the cascade)."""
    alone = [name for name in thresholds if isinstance(agent := orch.registry.agent(name), Specialist)
             and len(orch.router.cascade(agent)) < 2]
    if not alone:
        return []
    return [f"one model in the cascade of {', '.join(alone)}: below the threshold a step fails instead of "
            "escalating; add a larger model to the cascade before raising the threshold"]


def _strings(value: Sequence[str] | Mapping[str, str]) -> list[str]:
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, str):
        return [value]
    return list(value)


def _name(dataset: Dataset) -> str:
    return str(dataset) if isinstance(dataset, str | Path) else "(rows)"


def _cases(dataset: Dataset, mapping: ColumnMap) -> list[Case]:
    if isinstance(dataset, str | Path):
        return list(read_cases(dataset, mapping))
    cases: list[Case] = []
    for index, row in enumerate(dataset):
        if not isinstance(row, Mapping):
            raise InputError(f"row {index}: a {type(row).__name__}, not a mapping of column to value")
        values = dict(row)
        given = values.pop("id", None)
        item = BatchItem(id=str(given) if given not in (None, "") else str(index), inputs=values, index=index)
        cases.append(mapping.case(item, f"row {item.id}"))
    return cases


def _target(orch: Orchestrator, target: str | Workflow, first: Case, params: Mapping[str, Any],
            mapping: ColumnMap) -> tuple[str | Plan | Workflow, Mapping[str, Any], str]:
    """What to run, its answer's output mapping, and its name for the report."""
    registry = orch.registry
    fields = list(dict.fromkeys(e.path[0] for e in mapping.expect))
    if isinstance(target, Workflow) or target in registry.workflow_names:
        workflow = target if isinstance(target, Workflow) else registry.workflow(target)
        refs = workflow.compile(registry.agent_names).answer_refs()
        _check_fields(workflow.name, fields, list(refs))
        return target, refs, workflow.name
    if target not in registry.agent_names:
        raise UnknownNameError("workflow or agent", target, [*registry.workflow_names, *registry.agent_names])
    _check_fields(target, fields, list(registry.agent(target).Output.model_fields))
    step = Step(id="step", agent=target, instruction=registry.agent(target).description,
                inputs={name: f"$input.{name}" for name in first.inputs}, params=dict(params))
    plan = Plan(goal=f"evaluate {target}", steps=[step], output={f: f"$steps.step.{f}" for f in fields})
    return plan, plan.answer_refs(), target


def _check_fields(target: str, fields: Sequence[str], answer: Sequence[str]) -> None:
    unknown = [f for f in fields if f not in answer]
    if unknown:
        raise InputError(f"--expect {', '.join(unknown)}: {target}'s answer has no such field; its fields are "
                         f"{', '.join(answer)} (dotted for nested ones: fields.email)")


def _agents(run_target: str | Plan | Workflow, orch: Orchestrator) -> dict[str, str]:
    """Step id -> agent name, for the thresholds (which are per specialist)."""
    if isinstance(run_target, Plan):
        plan = run_target
    else:
        workflow = run_target if isinstance(run_target, Workflow) else orch.registry.workflow(run_target)
        plan = workflow.compile(orch.registry.agent_names)
    return {s.id: s.agent for s in plan.steps}


__all__ = ["Dataset", "EvalOptions", "evaluate"]
