"""Risk-coverage, thresholds chosen from data, and the calibration bins."""

from __future__ import annotations

import pytest

from orchestrator.calibration import (
    expected_calibration_error,
    reliability,
    risk_coverage,
    threshold_for,
    wilson_lower,
)

CONFIDENCES = [0.99, 0.95, 0.95, 0.9, 0.8, 0.6, 0.4]
CORRECT = [True, True, True, False, True, False, False]


def test_the_curve_runs_from_the_strictest_threshold_and_keeps_ties_together() -> None:
    points = risk_coverage(CONFIDENCES, CORRECT)
    assert [p.threshold for p in points] == [0.99, 0.95, 0.9, 0.8, 0.6, 0.4]
    assert [p.answered for p in points] == [1, 3, 4, 5, 6, 7]
    assert points[1].accuracy == 1.0 and points[2].accuracy == 0.75
    assert points[-1].coverage == 1.0 and points[-1].correct == 4


def test_the_threshold_answers_the_most_items_that_keep_the_target() -> None:
    point = threshold_for(CONFIDENCES, CORRECT, 0.8)
    assert point is not None and (point.threshold, point.answered) == (0.8, 5)
    strict = threshold_for(CONFIDENCES, CORRECT, 1.0)
    assert strict is not None and strict.threshold == 0.95


def test_a_conservative_threshold_needs_more_evidence_and_none_means_escalate_everything() -> None:
    assert threshold_for(CONFIDENCES, CORRECT, 0.8, conservative=True) is None
    assert threshold_for([0.9] * 200, [True] * 200, 0.95, conservative=True) is not None
    assert threshold_for([0.5, 0.4], [False, False], 0.5) is None


def test_bad_input_is_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match="one of each"):
        risk_coverage([0.5], [True, False])
    with pytest.raises(ValueError, match="not in"):
        threshold_for([0.5], [True], 95)
    with pytest.raises(ValueError, match="finite"):
        risk_coverage([float("nan")], [True])


def test_reliability_bins_and_the_calibration_error() -> None:
    bins = reliability([0.05, 0.15, 0.95, 1.0], [False, False, True, True], bins=10)
    assert [(b.lower, b.count) for b in bins] == [(0.0, 1), (0.1, 1), (0.9, 2)]
    assert bins[-1].accuracy == 1.0
    assert expected_calibration_error([0.05, 0.15, 0.95, 1.0], [False, False, True, True]) == pytest.approx(0.0625)
    assert expected_calibration_error([], []) == 0.0
    assert wilson_lower(0, 0) == 0.0 and 0.8 < wilson_lower(95, 100) < 0.95
