"""What one run did for one expected field: the answer, who gave it, and the local model's own answer.

The step behind a field is found through the plan's output mapping (``category`` ->
``$steps.category.label``). Its trace says whether a local model answered, and with what
confidence; where the step escalated, the local model's rejected answer is on its
``low_confidence`` attempt (``Attempt.output``), so the local model is scored on every item,
not only on those it kept. That is what lets a threshold be chosen from data: the
risk-coverage curve needs the local answer's confidence and correctness for each item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.evaluation.dataset import Expectation
from orchestrator.evaluation.metrics import ROUGE_PASS, matches, rouge
from orchestrator.plan import Reference, is_reference
from orchestrator.types import StepResult

MISSING: Any = object()
"""A path that is not in a value."""


@dataclass(frozen=True, slots=True)
class Source:
    """The step (and the path inside its output) an answer field comes from."""

    step_id: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldOutcome:
    """One item, one expected field."""

    expected: Any
    predicted: Any
    score: float
    """1/0 for a match, the ROUGE-L F-measure for a ``rouge`` field."""
    correct: bool
    answered_by: str
    """``local``, ``remote`` (a non-local model in the cascade), ``tool`` or ``none`` (failed)."""
    local_confidence: float | None = None
    """The local model's confidence in its own answer (kept or escalated); None when it gave none."""
    local_correct: bool | None = None
    """Whether that local answer was right."""
    rouge1: float | None = None
    rouge2: float | None = None


@dataclass(frozen=True, slots=True)
class ItemScore:
    """One scored item, as ``on_item`` receives it (``orchestrator eval --items`` writes one a line)."""

    id: str
    ok: bool
    """Whether its run succeeded."""
    error: str | None
    run_id: str | None
    duration_ms: float
    fields: dict[str, FieldOutcome]


def source_of(output_refs: Mapping[str, Any], path: Sequence[str]) -> Source | None:
    """Which step's output ``path`` of the answer reads (None for an input, a literal or an unknown field)."""
    value: Any = output_refs
    for depth, part in enumerate(path):
        if isinstance(value, str) and is_reference(value):
            return _step_source(value, tuple(path[depth:]))
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return _step_source(value, ()) if isinstance(value, str) and is_reference(value) else None


def _step_source(text: str, rest: tuple[str, ...]) -> Source | None:
    ref = Reference.parse(text)
    if ref is None or ref.source != "steps" or "*" in ref.path:
        return None
    return Source(ref.name, (*ref.path, *rest))


def dig(value: Any, path: Sequence[str]) -> Any:
    """``value[path[0]][path[1]]...`` or :data:`MISSING`."""
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def score(expectation: Expectation, predicted: Any, expected: Any) -> tuple[float, bool, float | None, float | None]:
    """(score, correct, rouge1, rouge2) of one answer."""
    if predicted is MISSING:
        predicted = None
    if expectation.metric == "rouge":
        r = rouge(predicted, expected)
        return r.rougeL, r.rougeL >= ROUGE_PASS, r.rouge1, r.rouge2
    ok = matches(predicted, expected, exact=expectation.metric == "exact")
    return float(ok), ok, None, None


def outcome(expectation: Expectation, expected: Any, answer: Any, source: Source | None,
            steps: Sequence[StepResult]) -> FieldOutcome:
    """Score one field of one run from its answer and, through ``source``, its step's trace."""
    predicted = dig(answer, expectation.path)
    value, correct, r1, r2 = score(expectation, predicted, expected)
    step = next((s for s in steps if source is not None and s.step_id == source.step_id), None)
    answered_by = "none" if predicted is MISSING else "tool"
    confidence: float | None = None
    local_correct: bool | None = None
    if step is not None and source is not None:
        answered_by = _answered_by(step) if predicted is not MISSING or step.status != "completed" else "none"
        local = _local_answer(step)
        if local is not None:
            confidence, local_output = local
            local_correct = score(expectation, dig(local_output, source.path), expected)[1]
    return FieldOutcome(expected=expected, predicted=None if predicted is MISSING else predicted, score=value,
                        correct=correct and predicted is not MISSING, answered_by=answered_by,
                        local_confidence=confidence, local_correct=local_correct, rouge1=r1, rouge2=r2)


def _answered_by(step: StepResult) -> str:
    if step.status != "completed":
        return "none"
    if step.model is None:
        return "tool"
    return "local" if step.local else "remote"


def _local_answer(step: StepResult) -> tuple[float, Any] | None:
    """The first local model's valid answer and its confidence: kept, or rejected as not confident enough."""
    for attempt in step.attempts:
        if not attempt.local or attempt.confidence is None:
            continue
        if attempt.outcome == "low_confidence" and attempt.output is not None:
            return attempt.confidence, attempt.output
        if attempt.outcome == "accepted" and step.status == "completed" and step.local:
            return attempt.confidence, step.output
    return None


__all__ = ["MISSING", "FieldOutcome", "ItemScore", "Source", "dig", "outcome", "score", "source_of"]
