"""normalize_fields: written dates, amounts and currencies to the schema's canonical forms."""

from __future__ import annotations

import pytest

from orchestrator.tools import NormalizeFields
from orchestrator.tools.normalize import NormalizeFieldsInput, parse_amount, parse_currency, parse_date

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "date": {"type": "string", "format": "date"},
        "total": {"type": "number"},
        "items": {"type": "integer"},
        "currency": {"type": ["string", "null"]},
    },
}


@pytest.mark.parametrize(("text", "iso"), [
    ("2024-03-05", "2024-03-05"),
    ("05/03/2024", "2024-03-05"),
    ("05.03.2024", "2024-03-05"),
    ("5-3-24", "2024-03-05"),
    ("03/25/2024", "2024-03-25"),  # only the month-first reading is a date
    ("2024/3/5", "2024-03-05"),
    ("5 March 2024", "2024-03-05"),
    ("5th Mar. 2024", "2024-03-05"),
    ("March 5, 2024", "2024-03-05"),
    ("Datum: 14.03.2024  Zeit: 09:41", "2024-03-14"),
])
def test_dates(text: str, iso: str) -> None:
    found = parse_date(text)
    assert found is not None and found.isoformat() == iso


def test_date_order() -> None:
    assert str(parse_date("05/03/2024", "MDY")) == "2024-05-03"
    assert parse_date("31/31/2024") is None
    assert parse_date("no date here") is None


@pytest.mark.parametrize(("text", "amount"), [
    ("335.38", 335.38), ("RM 1,234.50", 1234.5), ("1.234,50 €", 1234.5), ("10,90", 10.9),
    ("$12", 12.0), ("1 234,56", 1234.56), ("1,234", 1234.0), ("TOTAL 23.40 3 items", 23.4), ("-4.00", -4.0),
])
def test_amounts(text: str, amount: float) -> None:
    assert parse_amount(text) == amount


@pytest.mark.parametrize(("text", "code"), [
    ("€", "EUR"), ("EUR", "EUR"), ("usd", "USD"), ("RM", "MYR"), ("£", "GBP"), ("US$", "USD"),
    ("SUMME EUR", "EUR"), ("kr", None), ("the", None),
])
def test_currencies(text: str, code: str | None) -> None:
    assert parse_currency(text) == code


def test_fields_are_converted_by_their_schema() -> None:
    request = NormalizeFieldsInput.model_validate({
        "data": {"vendor": " Kaffeehaus ", "date": "14.03.2024", "total": "10,90", "items": "3",
                 "currency": "€", "extra": " kept "},
        "schema": SCHEMA,
    })
    out = NormalizeFields().run(request)
    assert out.data == {"vendor": "Kaffeehaus", "date": "2024-03-14", "total": 10.9, "items": 3,
                        "currency": "EUR", "extra": " kept "}
    assert out.changed == ["vendor", "date", "total", "items", "currency"]


def test_values_that_cannot_be_converted_are_left_for_validation() -> None:
    request = NormalizeFieldsInput.model_validate({
        "data": {"date": "yesterday", "total": "n/a", "currency": None}, "schema": SCHEMA})
    out = NormalizeFields().run(request)
    assert out.data == {"date": "yesterday", "total": "n/a", "currency": None}
    assert out.changed == []


@pytest.mark.parametrize(("text", "iso"), [
    ("2024年3月5日", "2024-03-05"), ("2024 年 3 月 5 日", "2024-03-05"),
    ("5. März 2024", "2024-03-05"), ("5 mars 2024", "2024-03-05"), ("5 de marzo de 2024", "2024-03-05"),
])
def test_dates_in_other_languages(text: str, iso: str) -> None:
    found = parse_date(text)
    assert found is not None and found.isoformat() == iso


def test_dates_that_are_not_fully_written_are_refused_not_guessed() -> None:
    assert parse_date("Montag 5. März") is None  # no year
    assert parse_date("31 février 2024") is None  # no such day
    assert parse_date("Total 12.50") is None


@pytest.mark.parametrize(("text", "amount"), [
    ("$1.2k", 1200.0), ("1.1k", 1100.0), ("USD 2bn", 2e9), ("€3.5m", 3.5e6), ("12 km", 12.0),
    ("(12.50)", -12.5), ("(RM 12.00)", -12.0), ("12.50-", -12.5), ("-$5", -5.0),
])
def test_amount_multipliers_and_accounting_negatives(text: str, amount: float) -> None:
    assert parse_amount(text) == amount
