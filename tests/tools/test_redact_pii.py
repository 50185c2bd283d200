"""redact_pii: each kind of personal data, checksum negatives, placeholders, no values in logs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from orchestrator.tools import Redaction, RedactPII, redact
from orchestrator.tools.pii import RedactPIIInput, iban_valid, luhn_valid

TICKETS = Path(__file__).parents[2] / "examples" / "tickets"


@pytest.mark.parametrize("email", ["jane.doe@example.com", "J.Doe+orders@mail.example.co.uk", "a_b-c@ex-ample.org"])
def test_emails(email: str) -> None:
    result = redact(f"Write to {email}, please.")
    assert result.text == "Write to [EMAIL_1], please."
    assert result.found == {"email": 1}


@pytest.mark.parametrize("phone", [
    "+44 20 7946 0958",
    "+1 (555) 010-2030",
    "+49 30 12345678",
    "+33 6 12 34 56 78",
    "0044 20 7946 0958",
    "(555) 010-2030",
    "555-010-2030",
    "555.010.2030",
    "1-555-010-2030",
    "020 7946 0958",
    "(020) 7946 0958",
    "030/1234567",
    "0151 23456789",
    "06 12 34 56 78",
])
def test_phone_numbers(phone: str) -> None:
    result = redact(f"Call me on {phone} after 5pm.")
    assert result.text == "Call me on [PHONE_1] after 5pm.", result.text
    assert result.found == {"phone": 1}


@pytest.mark.parametrize("text", [
    "Order ORD-48213 shipped.",
    "Invoice INV-2024-0042 is due.",
    "Date 05.03.2024 10:30, total 0.50",
    "Reference 0123456789012",  # a bare run of digits is an id, not a phone
    "ISO date 2024-03-15 and version 1.2.3.4.5",
    "We sold 1,234,567 units in 2023.",
])
def test_things_that_are_not_personal_data(text: str) -> None:
    assert redact(text) == Redaction(text)


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111",      # Visa test number
    "4111-1111-1111-1111",
    "4111111111111111",
    "5555 5555 5555 4444",      # Mastercard test number
    "3782 822463 10005",        # Amex test number (15 digits)
])
def test_card_numbers(card: str) -> None:
    result = redact(f"My card {card} was charged twice.")
    assert result.text == "My card [CARD_1] was charged twice."
    assert result.found == {"card": 1}


def test_card_numbers_must_pass_luhn() -> None:
    text = "Not a card: 4111 1111 1111 1112."
    assert redact(text, kinds=["card"]).text == text
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("")


def test_card_followed_by_another_number() -> None:
    result = redact("card 4111 1111 1111 1111 12 items")
    assert result.text == "card [CARD_1] 12 items"


@pytest.mark.parametrize("iban", [
    "DE89 3704 0044 0532 0130 00",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "gb82 west 1234 5698 7654 32",
    "NL91ABNA0417164300",
    "FR14 2004 1010 0505 0001 3M02 606",
])
def test_ibans(iban: str) -> None:
    result = redact(f"Please refund to {iban} THANKS")
    assert result.text == "Please refund to [IBAN_1] THANKS"
    assert result.found == {"iban": 1}


@pytest.mark.parametrize("iban", [
    "DE89 3704 0044 0532 0130 01",   # wrong checksum
    "DE89 3704 0044 0532 0130",      # wrong length for Germany
    "GB82 WEST 1234 5698 7654 33",
])
def test_ibans_must_pass_mod_97(iban: str) -> None:
    assert "iban" not in redact(f"Account {iban}.").found
    assert not iban_valid(iban.replace(" ", ""))


def test_ipv4_addresses() -> None:
    result = redact("Requests from 192.168.10.24 and 10.0.0.1, not 999.1.1.1 or v1.2.3.4")
    assert result.text == "Requests from [IPV4_1] and [IPV4_2], not 999.1.1.1 or v1.2.3.4"
    assert result.found == {"ipv4": 2}


def test_same_value_same_placeholder_and_restore() -> None:
    text = "a@example.com wrote; reply to A@example.com, cc b@example.com; call +44 20 7946 0958"
    result = redact(text)
    assert result.text == "[EMAIL_1] wrote; reply to [EMAIL_1], cc [EMAIL_2]; call [PHONE_1]"
    assert result.found == {"email": 3, "phone": 1}
    assert result.redacted
    assert result.restore("Email [EMAIL_2] and [PHONE_1].") == "Email b@example.com and +44 20 7946 0958."


def test_kinds_can_be_selected() -> None:
    text = "jane@example.com, +44 20 7946 0958"
    assert redact(text, kinds=["phone"]).text == "jane@example.com, [PHONE_1]"


def test_values_are_not_shown_in_repr_or_logs() -> None:
    with capture_logs() as logs:
        result = redact("jane@example.com 4111 1111 1111 1111")
    assert "jane@example.com" not in repr(result)
    assert logs and all("jane" not in str(entry) and "4111" not in str(entry) for entry in logs)
    assert logs[0]["found"] == {"email": 1, "card": 1}


def test_example_ticket_is_redacted() -> None:
    text = (TICKETS / "refund_request.txt").read_text()
    result = redact(text)
    assert result.found == {"email": 1, "phone": 1}
    assert "maria.lindqvist@example.com" not in result.text
    assert "ORD-48213" in result.text  # order numbers stay


async def test_tool_returns_text_and_counts_only() -> None:
    out = await RedactPII()(RedactPIIInput(text="Mail jane@example.com"))
    assert out.model_dump() == {"text": "Mail [EMAIL_1]", "found": {"email": 1}}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 +-().@abDEGB/")), max_size=120))
def test_any_text_redacts_and_counts_consistently(text: str) -> None:
    result = redact(text)
    assert len(re.findall(r"\[(?:EMAIL|IBAN|CARD|IPV4|PHONE)_\d+\]", result.text)) == sum(result.found.values())
    assert set(result.replacements) <= set(re.findall(r"\[[A-Z0-9]+_\d+\]", result.text))
