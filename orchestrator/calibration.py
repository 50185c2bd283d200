"""Confidence calibration: how accurate local answers are as the confidence threshold moves.

A specialist answers locally when its confidence is at or above a threshold and escalates the
rest. On labelled data that trade is a **risk-coverage curve**: for each threshold, the share of
items answered locally (coverage) and the accuracy of those answers. :func:`threshold_for` picks
the threshold that answers the most items while the local answers keep a target accuracy, so
thresholds come from data rather than guesses; :func:`reliability` bins confidences against
observed accuracy (the calibration plot) and :func:`expected_calibration_error` sums it up.

Everything here is plain arithmetic on two parallel sequences (a confidence and whether the
answer was right, per item): evaluation, distillation and the benchmarks share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Bin", "CoveragePoint", "expected_calibration_error", "reliability", "risk_coverage",
           "threshold_for", "wilson_lower"]


@dataclass(frozen=True, slots=True)
class CoveragePoint:
    """Answering locally at ``confidence >= threshold``: the share answered and their accuracy."""

    threshold: float
    coverage: float
    accuracy: float
    answered: int
    correct: int


@dataclass(frozen=True, slots=True)
class Bin:
    """Items whose confidence falls in ``[lower, upper)`` (the last bin includes 1.0)."""

    lower: float
    upper: float
    count: int
    mean_confidence: float
    accuracy: float


def _checked(confidences: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    if len(confidences) != len(correct):
        raise ValueError(f"{len(confidences)} confidences but {len(correct)} correctness flags; "
                         "pass one of each per item")
    pairs = [(float(c), bool(ok)) for c, ok in zip(confidences, correct, strict=True)]
    if any(not math.isfinite(c) for c, _ in pairs):
        raise ValueError("confidences must be finite numbers")
    return pairs


def risk_coverage(confidences: Sequence[float], correct: Sequence[bool]) -> list[CoveragePoint]:
    """One point per distinct confidence, from the strictest threshold (least coverage) down.

    Items tied on confidence are answered or escalated together, as a threshold would do.
    """
    pairs = sorted(_checked(confidences, correct), key=lambda pair: -pair[0])
    total = len(pairs)
    points: list[CoveragePoint] = []
    right = 0
    for answered, (confidence, ok) in enumerate(pairs, start=1):
        right += ok
        if answered == total or pairs[answered][0] != confidence:
            points.append(CoveragePoint(confidence, answered / total, right / answered, answered, right))
    return points


def wilson_lower(correct: int, answered: int, z: float = 1.96) -> float:
    """The Wilson score lower bound of an accuracy of ``correct / answered`` (0 with no items)."""
    if answered == 0:
        return 0.0
    p = correct / answered
    centre = p + z * z / (2 * answered)
    margin = z * math.sqrt(p * (1 - p) / answered + z * z / (4 * answered * answered))
    return (centre - margin) / (1 + z * z / answered)


def threshold_for(confidences: Sequence[float], correct: Sequence[bool], target_accuracy: float, *,
                  conservative: bool = False, min_answered: int = 1) -> CoveragePoint | None:
    """The threshold answering the most items whose accuracy is at least ``target_accuracy``.

    ``conservative`` asks the Wilson 95% lower bound of that accuracy to reach the target, not
    the observed accuracy (use it on small sets, where the observed figure flatters). None when
    no threshold with at least ``min_answered`` local answers reaches the target: escalate all.
    """
    if not 0.0 < target_accuracy <= 1.0:
        raise ValueError(f"target accuracy {target_accuracy} is not in (0, 1]; pass e.g. 0.95")
    best: CoveragePoint | None = None
    for point in risk_coverage(confidences, correct):
        accuracy = wilson_lower(point.correct, point.answered) if conservative else point.accuracy
        if point.answered >= min_answered and accuracy >= target_accuracy:
            best = point
    return best


def reliability(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[Bin]:
    """Equal-width confidence bins over [0, 1] with their mean confidence and accuracy (empty bins left out)."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    grouped: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, ok in _checked(confidences, correct):
        grouped[min(bins - 1, max(0, int(confidence * bins)))].append((confidence, ok))
    return [Bin(index / bins, (index + 1) / bins, len(items), sum(c for c, _ in items) / len(items),
                sum(ok for _, ok in items) / len(items))
            for index, items in enumerate(grouped) if items]


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """The count-weighted mean gap between confidence and accuracy over the bins (0 = calibrated)."""
    table = reliability(confidences, correct, bins)
    total = sum(b.count for b in table)
    return sum(b.count * abs(b.mean_confidence - b.accuracy) for b in table) / total if total else 0.0
