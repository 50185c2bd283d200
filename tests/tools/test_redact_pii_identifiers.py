"""redact_pii's checksum-validated identifiers (US SSN), cued dates of birth, IPv6, and the honest
list of what it does not cover."""

from __future__ import annotations

import pytest

from orchestrator.tools import redact
from orchestrator.tools.pii import KINDS, NOT_COVERED, RedactPII, ssn_valid


@pytest.mark.parametrize("ssn", ["536-90-4399", "536 90 4399"])
def test_social_security_numbers(ssn: str) -> None:
    result = redact(f"Customer SSN {ssn} on file.")
    assert result.text == "Customer SSN [SSN_1] on file." and result.found == {"ssn": 1}


def test_social_security_numbers_must_be_valid_and_bare_digits_need_a_cue() -> None:
    text = "Refs 000-12-3456, 666-12-3456, 912-34-5678 and 078-05-1120 (the wallet ad number); id 536904399."
    assert redact(text).found == {}
    assert redact("social security number: 536904399").text == "social security number: [SSN_1]"
    assert ssn_valid("536-90-4399") and not ssn_valid("078-05-1120")


@pytest.mark.parametrize(("text", "redacted"), [
    ("DOB: 12.03.1980", "DOB: [DOB_1]"),
    ("Date of birth 1980-03-12.", "Date of birth [DOB_1]."),
    ("born on March 12, 1980 in Leeds", "born on [DOB_1] in Leeds"),
    ("geb. 12 März 1980", "geb. 12 März 1980"),  # a German month name: not read (a known gap)
    ("geboren am 12.03.1980", "geboren am [DOB_1]"),
])
def test_dates_of_birth_after_a_cue(text: str, redacted: str) -> None:
    assert redact(text).text == redacted


def test_dates_without_a_birth_cue_are_kept() -> None:
    assert redact("Invoice of 12.03.1980, due 1980-04-12.").found == {}


@pytest.mark.parametrize("address", ["2001:db8::8a2e:370:7334", "fe80::1ff:fe23:4567:890a",
                                     "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128"])
def test_ipv6_addresses(address: str) -> None:
    result = redact(f"Login from {address} failed.")
    assert result.text == "Login from [IPV6_1] failed." and result.found == {"ipv6": 1}


def test_clock_times_and_ratios_are_not_ipv6() -> None:
    assert redact("Meeting 10:30:00, score 3:2, ratio 1:2:3.").found == {}


def test_what_is_not_covered_is_said_and_stays_in_the_text() -> None:
    text = "Jane Doe, 221B Baker Street, London, passport 533380006."
    assert redact(text).text == text  # no names, addresses or passport numbers: the docs say so
    assert "names of people" in NOT_COVERED and "street addresses" in NOT_COVERED
    assert "does NOT find names, street addresses or passport numbers" in RedactPII.description
    assert set(KINDS) == {"email", "iban", "card", "ssn", "dob", "ipv4", "ipv6", "phone"}
