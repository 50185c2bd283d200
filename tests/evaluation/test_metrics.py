"""Scoring maths: normalised and exact match, ROUGE-1/2/L against hand-computed values, percentiles."""

from __future__ import annotations

import pytest

from orchestrator.evaluation import matches, normalise, percentile, rouge


@pytest.mark.parametrize(("predicted", "expected"), [
    ("Billing", "billing"), ("  ORD-123. ", "ord-123"), ("12.50", 12.5), ("1,200", "1200"), (None, ""),
    ("null", None), ("two  spaces", "two spaces"), ({"a": "X "}, {"a": "x"}), (True, "true"),
])
def test_normalised_match_ignores_case_spacing_edge_punctuation_and_number_format(predicted: object,
                                                                                 expected: object) -> None:
    assert matches(predicted, expected)


@pytest.mark.parametrize(("predicted", "expected"), [("refund", "billing"), ("12.5", "12.51"), (None, "x"),
                                                     ("ord 123", "ord-123")])
def test_normalised_match_still_tells_different_answers_apart(predicted: object, expected: object) -> None:
    assert not matches(predicted, expected)


def test_exact_match_compares_values_as_they_are() -> None:
    assert matches("billing", "billing", exact=True)
    assert matches(3, "3", exact=True)  # CSV columns are text
    assert not matches("Billing", "billing", exact=True)
    assert not matches(None, "None", exact=True)


def test_normalise_is_a_canonical_text() -> None:
    assert normalise(" Hello,  World! ") == "hello, world"
    assert normalise(2.0) == "2" and normalise("0.50") == "0.5"


def test_rouge_matches_hand_computed_values() -> None:
    # the cat sat on the mat / the cat lay on the mat: 5 of 6 unigrams, 3 of 5 bigrams, LCS 5
    r = rouge("the cat sat on the mat", "the cat lay on the mat")
    assert r.rouge1 == pytest.approx(5 / 6)
    assert r.rouge2 == pytest.approx(3 / 5)
    assert r.rougeL == pytest.approx(5 / 6)


def test_rouge_l_counts_an_in_order_subsequence_with_unequal_lengths() -> None:
    # LCS of "a b c d" and "a x c" is "a c": precision 2/4, recall 2/3, F = 2*.5*.667/(1.167) = 4/7
    assert rouge("a b c d", "a x c").rougeL == pytest.approx(4 / 7)


def test_rouge_of_nothing_is_zero() -> None:
    assert rouge("", "a reference") == rouge(None, "x") == rouge("words", "")
    assert rouge("", "x").rougeL == 0.0


def test_rouge_ignores_case_and_punctuation() -> None:
    assert rouge("The Cat, sat!", "the cat sat").rougeL == pytest.approx(1.0)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 95) == pytest.approx(38.5)
    assert percentile(values, 0) == 10.0 and percentile(values, 100) == 40.0
    assert percentile([], 50) == 0.0
    with pytest.raises(ValueError, match="not in"):
        percentile(values, 101)
