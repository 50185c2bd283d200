"""Grounding helpers: candidate spans, occurrence, parsing, sentences, selection."""

from __future__ import annotations

import pytest

from agents._grounding import (
    _as_distribution,
    find_candidates,
    infer_kind,
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


@pytest.mark.parametrize(("raw", "value"), [("RM 1,234.50", 1234.5), ("7.42", 7.42), ("12,50", 12.5), ("x", None)])
def test_parse_amount(raw: str, value: float | None) -> None:
    assert parse_amount(raw) == value


def test_parse_date_formats() -> None:
    assert parse_date("14/03/2018") is not None
    assert parse_date("2018-03-14") is not None
    assert parse_date("14 Mar 2018") is not None
    assert parse_date("next tuesday") is None


def test_kinds_are_inferred_from_names_types_and_formats() -> None:
    assert infer_kind("invoice_date", {}) == "date"
    assert infer_kind("total", {"type": "number"}) == "money"
    assert infer_kind("contact", {"format": "email"}) == "email"
    assert infer_kind("vendor", {}) == "company"
    assert infer_kind("order_id", {}) == "id"
    assert infer_kind("notes", {}) == "text"


def test_money_candidates_prefer_the_amount_after_total_over_subtotal_tax_and_cash() -> None:
    text = "ITEM 5.00\nSUBTOTAL\n5.00\nTAX\n0.30\nTOTAL :\n5.30\nCASH\n10.00\nCHANGE\n4.70"
    ranked = [c.value for c in find_candidates(text, "money")]
    assert ranked[0] == "5.30"
    assert set(ranked) >= {"5.00", "0.30", "10.00", "4.70"}


def test_company_candidates_join_a_bare_suffix_line_and_drop_registration_numbers() -> None:
    text = "PASARAYA BORONG PINTAR\nSDN BHD (124525-H)\nNO 19 JALAN TASIK\n14/03/2018"
    assert find_candidates(text, "company")[0].value == "PASARAYA BORONG PINTAR SDN BHD"


def test_other_kinds() -> None:
    text = "Mail jane@example.com or call +44 20 7946 0958 about order AB-12345 from Jane Smith."
    assert find_candidates(text, "email")[0].value == "jane@example.com"
    assert find_candidates(text, "phone")[0].value == "+44 20 7946 0958"
    assert "AB-12345" in [c.value for c in find_candidates(text, "id")]
    assert find_candidates(text, "name")[0].value == "Jane Smith"


def test_split_sentences_counts_dialogue_lines_as_sentences() -> None:
    assert split_sentences("Ann: hi there\nBob: hello. How are you?\nAnn: fine") == [
        "Ann: hi there", "Bob: hello. How are you?", "Ann: fine"]
    assert split_sentences("First one. Second one! Third?") == ["First one.", "Second one!", "Third?"]


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
