"""Grounding helpers: occurrence, parsing, sentences, headings, selection."""

from __future__ import annotations

import pytest

from orchestrator.agents._grounding import (
    _as_distribution,
    is_heading,
    occurs_in,
    parse_amount,
    parse_date,
    select_sentences,
    split_sentences,
)


def test_occurs_in_normalises_case_spacing_and_numbers() -> None:
    text = "Total due:  RM 1,234.50\nACME  Trading"
    assert occurs_in("acme trading", text)
    assert occurs_in(1234.5, text)
    assert occurs_in("1,234.50", text)
    assert not occurs_in("Globex", text)
    assert not occurs_in(99.0, text)
    assert occurs_in(None, text)


def test_occurs_in_reads_comma_decimal_amounts() -> None:
    text = "Gesamtbetrag 1.234,50 EUR"
    assert occurs_in(1234.5, text)
    assert not occurs_in(1234.0, text)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("RM 1,234.50", 1234.5), ("7.42", 7.42), ("12,50", 12.5), ("1.234,50 EUR", 1234.5), ("x", None)],
)
def test_parse_amount(raw: str, value: float | None) -> None:
    assert parse_amount(raw) == value


def test_parse_date_formats() -> None:
    assert parse_date("14/03/2018") is not None
    assert parse_date("2018-03-14") is not None
    assert parse_date("14 Mar 2018") is not None
    assert parse_date("next tuesday") is None


def test_split_sentences_counts_dialogue_lines_as_sentences() -> None:
    assert split_sentences("Ann: hi there\nBob: hello. How are you?\nAnn: fine") == [
        "Ann: hi there", "Bob: hello. How are you?", "Ann: fine"]
    assert split_sentences("First one. Second one! Third?") == ["First one.", "Second one!", "Third?"]


def test_split_sentences_keeps_a_number_with_its_heading() -> None:
    assert split_sentences("1. Ticket volume and mix\nVolume rose by a third.") == [
        "1. Ticket volume and mix", "Volume rose by a third."]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("Summary", True),
        ("2.", True),
        ("1. Ticket volume and mix", True),
        ("Jane Doe", True),
        ("Volume rose by a third in March.", False),
        ("- refunds are slower", False),
        ("Subject: refund for order 4521", False),
        ("Ann: see you tomorrow", False),
    ],
)
def test_is_heading_tells_headings_and_signatures_from_sentences(line: str, heading: bool) -> None:
    assert is_heading(line) is heading


def test_select_sentences_avoids_duplicates_and_keeps_order() -> None:
    vectors = [[1.0, 0.0], [1.0, 0.0], [0.7, 0.7], [0.0, 1.0]]
    chosen = select_sentences(vectors, None, [3, 3, 3, 3], 6, diversity=0.6)
    assert chosen == sorted(chosen)
    assert not {0, 1} <= set(chosen)
    assert len(chosen) == 2


def test_choose_results_in_any_common_shape_become_a_distribution() -> None:
    options = ["a", "b"]
    assert _as_distribution({"a": -1.0, "b": -1.0}, options) == {"a": 0.5, "b": 0.5}
    assert _as_distribution(("b", 0.8), options) == pytest.approx({"a": 0.2, "b": 0.8})
    assert _as_distribution([0.25, 0.75], options) == {"a": 0.25, "b": 0.75}
    assert _as_distribution("garbage", options) is None


def test_split_sentences_keeps_abbreviations_initials_and_times_inside_a_sentence() -> None:
    assert split_sentences("Dr. Smith arrived at 5 p.m. on Jan. 3. He left at 6.") == [
        "Dr. Smith arrived at 5 p.m. on Jan. 3.", "He left at 6."]
    assert split_sentences("The U.S. team met Mr. J. R. Jones. They won.") == [
        "The U.S. team met Mr. J. R. Jones.", "They won."]


def test_split_sentences_keeps_closing_quotes_with_their_sentence() -> None:
    assert split_sentences('He said: "We won." Mr. Jones agreed.') == ['He said: "We won."', "Mr. Jones agreed."]
