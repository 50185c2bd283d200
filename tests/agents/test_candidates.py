"""Candidate spans: what the grounded extractor may choose from, and in which order."""

from __future__ import annotations

from typing import get_args

import pytest

from orchestrator.agents._candidates import KINDS, UNLIKELY, Kind, KindSpec, find_candidates, infer_kind, valid_for_kind


def values(text: str, kind: str, hint: str = "") -> list[str]:
    return [c.value for c in find_candidates(text, kind, hint=hint)]  # type: ignore[arg-type]


def test_kinds_are_inferred_from_names_types_and_formats() -> None:
    assert infer_kind("invoice_date", {}) == "date"
    assert infer_kind("total", {"type": "number"}) == "money"
    assert infer_kind("contact", {"format": "email"}) == "email"
    assert infer_kind("vendor", {}) == "company"
    assert infer_kind("order_id", {}) == "id"
    assert infer_kind("currency", {}) == "currency"
    assert infer_kind("paid_in", {"description": "the currency of the total"}) == "money"  # "total" wins
    assert infer_kind("notes", {}) == "text"


def test_money_candidates_prefer_the_amount_after_total_over_subtotal_tax_and_cash() -> None:
    text = "ITEM 5.00\nSUBTOTAL\n5.00\nTAX\n0.30\nTOTAL :\n5.30\nCASH\n10.00\nCHANGE\n4.70"
    ranked = values(text, "money")
    assert ranked[0] == "5.30"
    assert set(ranked) >= {"5.00", "0.30", "10.00", "4.70"}  # ranked lower, still offered


def test_money_candidates_read_comma_decimal_receipts() -> None:
    text = "Brot 2,50\nKaffee 3,20\nZwischensumme 5,70\nMwSt 0,37\nGesamtbetrag 6,07 EUR\nBar 10,00"
    assert values(text, "money")[0] == "6,07"


def test_company_candidates_join_a_bare_suffix_line_and_drop_registration_numbers() -> None:
    text = "PASARAYA BORONG PINTAR\nSDN BHD (124525-H)\nNO 19 JALAN TASIK\n14/03/2018"
    assert values(text, "company")[0] == "PASARAYA BORONG PINTAR SDN BHD"


def test_company_candidates_rank_address_and_field_lines_below_the_header() -> None:
    text = "Brightleaf Garden Supplies\n14 Mill Road\nCustomer: Oakridge Joinery\nTotal 12.00"
    ranked = values(text, "company")
    assert ranked[0] == "Brightleaf Garden Supplies"
    assert ranked.index("Customer: Oakridge Joinery") > ranked.index("Brightleaf Garden Supplies")


def test_currency_candidates_take_the_sign_or_code_beside_the_amount() -> None:
    assert values("TOTAL EUR 12.50\nThank you", "currency")[0] == "EUR"
    assert values("Total due: £4.20", "currency")[0] == "£"
    assert values("I wrote some PHP code yesterday", "currency") == []  # a bare three-letter word
    assert valid_for_kind("usd", "currency") and valid_for_kind("RM", "currency")
    assert not valid_for_kind("dollars", "currency")


def test_id_candidates_follow_the_label_the_field_asks_for() -> None:
    text = "VAT No: GB123456789\nInvoice No: INV-2024-0042\nCustomer ID: C-7781\nDate: 12/03/2024"
    assert values(text, "id", hint="invoice_number the invoice number")[0] == "INV-2024-0042"
    assert values(text, "id", hint="customer_id")[0] == "C-7781"
    assert "GB123456789" not in values(text, "id", hint="invoice_number")  # another kind of number
    assert "GB123456789" in values(text, "id", hint="vat number")


def test_id_candidates_skip_dates_phone_pieces_years_and_postcodes() -> None:
    text = "Order ORD-48213 placed 2024\nCall (555) 010-2030\n12 High Street 10115 Berlin\n03/04/2024"
    ranked = values(text, "id", hint="order number")
    assert ranked[0] == "ORD-48213"
    assert "010-2030" not in ranked
    assert "03/04/2024" not in ranked
    assert ranked.index("2024") > 0 and ranked.index("10115") > 0


def test_person_candidates_prefer_labels_and_signatures_over_organisations() -> None:
    text = (
        "Hello Fieldnote team,\nMy order from Brightleaf Garden Supplies never came.\n"
        "Merchant account: Northwind Traders\nThanks,\nMaria Gonzalez"
    )
    scores = {c.value: c.score for c in find_candidates(text, "name")}
    assert max(scores, key=scores.__getitem__) == "Maria Gonzalez"
    assert scores["Brightleaf Garden Supplies"] <= scores["Maria Gonzalez"] - 2  # an organisation
    assert scores["Northwind Traders"] < scores["Maria Gonzalez"] - 1  # named after "Merchant account:"
    ranked = list(scores)
    assert "Hello Fieldnote" not in ranked  # a greeting and one word


def test_product_candidates_prefer_model_names_and_skip_codes_and_labels() -> None:
    text = (
        "Subject: Refund\n\nThe Aeropress X2 coffee grinder I bought arrived broken. "
        "Order ORD-48213. The Aeropress X2 never worked.\nContact: Jane Smith"
    )
    ranked = values(text, "product")
    assert ranked[0] == "Aeropress X2 coffee grinder"  # "The" is grammar, "I bought" is not the name
    assert "Aeropress X2 never worked" not in ranked
    assert "ORD-48213" not in ranked  # an order number is not a product
    assert "Contact" not in ranked and "Jane Smith" not in ranked  # nor a field label, nor a person


def test_a_text_without_a_product_offers_none_rather_than_a_name_or_a_code() -> None:
    assert values("My parcel never arrived, order ORD-1234. I need it before Friday. Thanks, Ana Silva",
                  "product") == []


def test_other_kinds() -> None:
    text = "Mail jane@example.com or call +44 20 7946 0958 about order AB-12345 from Jane Smith."
    assert values(text, "email")[0] == "jane@example.com"
    assert values(text, "phone")[0] == "+44 20 7946 0958"
    assert "AB-12345" in values(text, "id")
    assert values(text, "name")[0] == "Jane Smith"


def test_unlikely_candidates_are_never_offered_and_limit_holds() -> None:
    text = "\n".join(f"Line {i}: some text here" for i in range(30))
    found = find_candidates(text, "text", limit=5)
    assert len(found) == 5
    assert all(c.score > UNLIKELY for c in found)
    assert [c.start for c in found] == sorted(c.start for c in found)  # equal priors keep document order


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [("14/03/2018", "date", True), ("soon", "date", False), ("7.42", "money", True), ("seven", "money", False),
     ("a@b.co", "email", True), ("a@b", "email", False), ("+1 555 010 2030", "phone", True), ("12", "phone", False),
     (None, "date", True)],
)
def test_valid_for_kind(value: str | None, kind: str, ok: bool) -> None:
    assert valid_for_kind(value, kind) is ok  # type: ignore[arg-type]


def test_every_kind_has_one_finder_and_check_in_the_table() -> None:
    assert set(KINDS) == set(get_args(Kind))
    assert all(isinstance(spec, KindSpec) for spec in KINDS.values())
    # a kind the table does not know reads as plain text: whole lines, checked for being non-blank
    text = "Quarterly review\nNext steps below"
    assert values(text, "colour") == values(text, "text") == ["Quarterly review", "Next steps below"]
    assert valid_for_kind("blue", "colour") is True  # type: ignore[arg-type]
    assert valid_for_kind("  ", "colour") is False  # type: ignore[arg-type]


def test_a_kind_added_to_the_table_is_found_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.agents._candidates import Candidate, kinds

    def hashtags(text: str, hint: str) -> list[Candidate]:
        return [Candidate(word, text.index(word), 1.0) for word in text.split() if word.startswith("#")]

    spec = KindSpec(hashtags, lambda value: str(value).startswith("#"))
    monkeypatch.setitem(kinds.KINDS, "text", spec)  # type: ignore[index]
    assert values("see #launch and #beta", "text") == ["#launch", "#beta"]
    assert valid_for_kind("#beta", "text") and not valid_for_kind("beta", "text")
