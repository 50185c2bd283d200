"""The evaluation report: per expected field, how often the answers were right, who gave them,
how well the local model's confidence predicts its correctness, and what the run cost.

Built from :class:`~orchestrator.evaluation.outcome.FieldOutcome` s by :func:`field_report`;
plain pydantic data, so ``--json`` is ``report.model_dump_json()`` and the terminal table and
the HTML page (:mod:`orchestrator.evaluation.html`) are views of the same object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from pydantic import BaseModel, Field

from orchestrator.calibration import expected_calibration_error, reliability, risk_coverage, threshold_for
from orchestrator.evaluation.dataset import Expectation, Metric
from orchestrator.evaluation.metrics import normalise
from orchestrator.evaluation.outcome import FieldOutcome

MAX_LABELS = 100
"""Fields with more distinct expected values than this are not treated as labels (no confusion table)."""
TOP_CONFUSIONS = 10


class Confusion(BaseModel):
    """``count`` items labelled ``expected`` were answered ``predicted``."""

    expected: str
    predicted: str
    count: int


class LabelScore(BaseModel):
    """How often one expected label was answered right (recall)."""

    label: str
    items: int
    correct: int


class CurvePoint(BaseModel):
    """Answering locally at ``confidence >= threshold``: the share answered and their accuracy."""

    threshold: float
    coverage: float
    accuracy: float


class ReliabilityBin(BaseModel):
    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


class Calibration(BaseModel):
    """How the local model's confidence relates to its correctness on this field."""

    items: int
    """Items where the local model gave a valid answer with a confidence (kept or escalated)."""
    accuracy: float
    """The local model's accuracy on those items, answering all of them."""
    curve: list[CurvePoint]
    bins: list[ReliabilityBin]
    ece: float
    """Expected calibration error (0 = confidence is accuracy)."""
    target_accuracy: float | None = None
    threshold: float | None = None
    """The lowest threshold keeping local accuracy >= ``target_accuracy``; None: none does (escalate all)."""
    coverage_at_threshold: float | None = None
    accuracy_at_threshold: float | None = None


class FieldReport(BaseModel):
    field: str
    column: str
    metric: Metric
    step: str | None = None
    """The step the field comes from (None: not a step's output)."""
    agent: str | None = None
    items: int
    accuracy: float
    """Share of items whose final answer was right (ROUGE-L >= 0.5 for ``rouge`` fields)."""
    mean_score: float
    """Mean match (= accuracy) or mean ROUGE-L F-measure."""
    rouge1: float | None = None
    rouge2: float | None = None
    answered_locally: float
    answered_remotely: float
    answered_by_tool: float
    unanswered: float
    """Share of items with no answer for this field (the step or run failed)."""
    local_accuracy: float | None = None
    """Accuracy of the answers a local model kept (None when it kept none)."""
    calibration: Calibration | None = None
    labels: int | None = None
    """Distinct expected labels (None: not a label field)."""
    confusions: list[Confusion] = Field(default_factory=list)
    per_label: list[LabelScore] = Field(default_factory=list)


class ItemError(BaseModel):
    id: str
    error: str


class EvalReport(BaseModel):
    target: str
    dataset: str
    items: int
    failed: int
    """Items whose run failed or was refused."""
    fields: list[FieldReport]
    cost_usd: float
    baseline_cost_usd: float
    """The same runs with the large (baseline) model on every model step."""
    baseline_model: str | None = None
    latency_p50_ms: float
    latency_p95_ms: float
    seconds: float
    errors: list[ItemError] = Field(default_factory=list)
    """The first failures, with their reasons (``failed`` counts them all)."""
    thresholds: dict[str, float | None] = Field(default_factory=dict)
    """With a target accuracy: per specialist, the threshold that holds it on every field it answers."""
    notes: list[str] = Field(default_factory=list)
    """What to know before using the thresholds (e.g. a cascade with nothing to escalate to)."""

    def field(self, name: str) -> FieldReport:
        return next(f for f in self.fields if f.field == name)


def field_report(expectation: Expectation, outcomes: Sequence[FieldOutcome], *, step: str | None,
                 agent: str | None, target_accuracy: float | None = None,
                 conservative: bool = False) -> FieldReport:
    n = len(outcomes)
    share = (lambda who: sum(o.answered_by == who for o in outcomes) / n) if n else (lambda who: 0.0)
    local = [o for o in outcomes if o.answered_by == "local"]
    report = FieldReport(
        field=expectation.field, column=expectation.column, metric=expectation.metric, step=step, agent=agent,
        items=n, accuracy=_mean([o.correct for o in outcomes]), mean_score=_mean([o.score for o in outcomes]),
        answered_locally=share("local"), answered_remotely=share("remote"), answered_by_tool=share("tool"),
        unanswered=share("none"), local_accuracy=_mean([o.correct for o in local]) if local else None,
        calibration=_calibration(outcomes, target_accuracy, conservative))
    if expectation.metric == "rouge":
        report.rouge1 = _mean([o.rouge1 or 0.0 for o in outcomes])
        report.rouge2 = _mean([o.rouge2 or 0.0 for o in outcomes])
    else:
        _label_tables(report, outcomes)
    return report


def _calibration(outcomes: Sequence[FieldOutcome], target: float | None, conservative: bool) -> Calibration | None:
    scored = [(o.local_confidence, bool(o.local_correct)) for o in outcomes if o.local_confidence is not None]
    if not scored:
        return None
    confidences, correct = [c for c, _ in scored], [ok for _, ok in scored]
    calibration = Calibration(
        items=len(scored), accuracy=_mean(correct),
        curve=[CurvePoint(threshold=p.threshold, coverage=p.coverage, accuracy=p.accuracy)
               for p in risk_coverage(confidences, correct)],
        bins=[ReliabilityBin(lower=b.lower, upper=b.upper, count=b.count, mean_confidence=b.mean_confidence,
                             accuracy=b.accuracy) for b in reliability(confidences, correct)],
        ece=expected_calibration_error(confidences, correct), target_accuracy=target)
    if target is not None:
        point = threshold_for(confidences, correct, target, conservative=conservative)
        if point is not None:
            calibration.threshold = point.threshold
            calibration.coverage_at_threshold = point.coverage
            calibration.accuracy_at_threshold = point.accuracy
    return calibration


def _label_tables(report: FieldReport, outcomes: Sequence[FieldOutcome]) -> None:
    expected = [normalise(o.expected) for o in outcomes]
    if not outcomes or len(set(expected)) > MAX_LABELS or any(isinstance(o.expected, dict | list) for o in outcomes):
        return
    report.labels = len(set(expected))
    mistakes = Counter((e, normalise(o.predicted) or "(none)") for e, o in zip(expected, outcomes, strict=True)
                       if not o.correct)
    report.confusions = [Confusion(expected=e, predicted=p, count=c)
                         for (e, p), c in sorted(mistakes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CONFUSIONS]]
    items, right = Counter(expected), Counter(e for e, o in zip(expected, outcomes, strict=True) if o.correct)
    report.per_label = [LabelScore(label=label, items=items[label], correct=right[label]) for label in sorted(items)]


def thresholds_by_agent(fields: Sequence[FieldReport]) -> dict[str, float | None]:
    """Per specialist, the strictest of its fields' thresholds (None when one field has none)."""
    chosen: dict[str, float | None] = {}
    for f in fields:
        if f.agent is None or f.calibration is None or f.calibration.target_accuracy is None:
            continue
        t = f.calibration.threshold
        if f.agent in chosen:
            old = chosen[f.agent]
            chosen[f.agent] = None if old is None or t is None else max(old, t)
        else:
            chosen[f.agent] = t
    return chosen


def _mean(values: Sequence[float | bool]) -> float:
    return sum(values) / len(values) if values else 0.0


__all__ = ["Calibration", "Confusion", "CurvePoint", "EvalReport", "FieldReport", "ItemError", "LabelScore",
           "ReliabilityBin", "field_report", "thresholds_by_agent"]
