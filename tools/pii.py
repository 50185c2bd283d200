"""Find personal data in text and replace it with typed placeholders: patterns and checksums only.

What is covered, exactly. Kinds, checked in this order (an earlier kind wins where matches overlap):

* ``email``  addresses such as ``jane.doe@example.com``
* ``iban``   bank accounts, grouped or not, valid by ``python-stdnum`` (mod-97
  checksum, the country's length and format)
* ``card``   payment card numbers of 13-19 digits, unbroken or in groups of
  3-6 digits split by spaces or dashes, starting with 2-6 and passing the
  Luhn check (``python-stdnum``)
* ``ssn``    US social security numbers written ``123-45-6789`` or ``123 45 6789``
  (or nine digits right after "SSN" / "social security number"), valid by
  ``python-stdnum`` (no 000/666/9xx area, 00 group or 0000 serial, no known
  advertising numbers)
* ``dob``    a date of birth: a date (``12.03.1980``, ``1980-03-12``, ``12 March 1980``,
  ``March 12, 1980``) right after "DOB", "date of birth", "birth date", "born (on)",
  "geb.", "geboren (am)", "né(e) le" or "fecha de nacimiento"; the cue stays
* ``ipv6``   addresses such as ``2001:db8::8a2e:370:7334`` (valid by :mod:`ipaddress`,
  at least two groups)
* ``ipv4``   addresses such as ``192.168.10.24``
* ``phone``  international numbers (``+44 20 7946 0958``, ``0044 ...``), North
  American numbers (``(555) 010-2030``, ``555-010-2030``) and national numbers
  with a trunk prefix (``020 7946 0958``, ``06 12 34 56 78``)

A bare run of digits is never taken for a phone number (it is usually an id).

**Not covered**: names of people, street addresses, passport, driving-licence and tax
numbers, national ids other than the US SSN, dates of birth without a cue, account
numbers that are not IBANs, free-text descriptions (health, beliefs). Finding those needs
named-entity recognition. Presidio is not offered as a backend here: its analyzer needs a
spaCy language model, which is downloaded on first use and not installable offline in this
project's environment. With ``redact_for_remote`` a remote model still sees every personal
datum outside the kinds above; mark such inputs ``confidential`` to keep them local.
Each distinct value gets one placeholder (``[EMAIL_1]``, ``[PHONE_2]`` ...),
so a text that mentions the same address twice still reads consistently.
Matched values never reach the logs; only the counts do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.logging import get_logger
from orchestrator.specialist import Tool

PIIKind = Literal["email", "iban", "card", "ssn", "dob", "ipv6", "ipv4", "phone"]
KINDS: tuple[PIIKind, ...] = ("email", "iban", "card", "ssn", "dob", "ipv6", "ipv4", "phone")
NOT_COVERED = ("names of people", "street addresses", "passport, driving-licence and tax numbers",
               "national ids other than the US SSN", "dates of birth without a cue")
"""What :func:`redact` does not find (see the module's documentation)."""

log = get_logger(__name__)

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
# One optional space before each character keeps matching linear; _ibans() finds the true end.
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")
# Cards are printed as one run or in groups of 3-6 digits (4-4-4-4, 4-6-5, 4-6-4).
_CARD = re.compile(r"(?<![\d-])\d{3,19}(?:[ -]\d{3,6}){0,5}(?![\d-])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_SEP = r"[ .-]"
_PHONES = (
    # international: +CC or 00CC, then groups (an area code may sit in parentheses)
    re.compile(rf"(?<![\w+])(?:\+|00)[1-9]\d{{0,2}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,4}}){{2,6}}(?![\w])"),
    # North American: (555) 010-2030, 555-010-2030, 1-555-010-2030
    re.compile(rf"(?<![\w(+-])(?:1{_SEP})?(?:\(\d{{3}}\) ?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}(?![\w-])"),
    # national with a trunk prefix 0: 020 7946 0958, 030/1234567, 06 12 34 56 78
    re.compile(
        rf"(?<![\w+-])\(?0[1-9]\d{{0,3}}\)?(?: ?/ ?|{_SEP})?\d{{2,4}}(?:{_SEP}?\d{{2,4}}){{0,3}}(?![\w-])"
    ),
)
_DATE = re.compile(r"\d{1,2}[.-]\d{1,2}[.-](?:19|20)\d{2}(?!\d)")
_SSN = re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_CUED = re.compile(r"\b(?:SSN#?|social security(?: number| no\.?)?)\s*[:#]?\s*(\d{9})(?!\d)", re.IGNORECASE)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DOB = re.compile(
    r"\b(?:D\.?O\.?B\.?|date of birth|birth ?date|born(?: on)?|geb\.|geboren(?: am)?|n[ée]e? le|"
    r"fecha de nacimiento)\s*[:\-]?\s*"
    rf"(\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}(?:st|nd|rd|th)?\.? {_MONTH},? \d{{4}}|"
    rf"{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})(?!\d)", re.IGNORECASE)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")

# Registered IBAN lengths (SWIFT IBAN registry); other countries need 15-34 characters.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "RU": 33, "LY": 25, "SD": 18,
    "OM": 23, "YE": 30,
}


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) pass the Luhn checksum used by payment cards."""
    from stdnum import luhn

    return digits.isdigit() and bool(luhn.is_valid(digits))


def iban_valid(iban: str) -> bool:
    """True when ``iban`` (no spaces) is a valid IBAN: its country's length and format, and the
    mod-97 checksum (``python-stdnum``)."""
    from stdnum import iban as iban_number

    return bool(re.fullmatch(r"[A-Za-z]{2}\d{2}[A-Za-z0-9]{11,30}", iban)) and bool(iban_number.is_valid(iban))


def ssn_valid(number: str) -> bool:
    """True when ``number`` (nine digits, dashes or spaces allowed) is a valid US SSN (``python-stdnum``)."""
    from stdnum.us import ssn

    return bool(ssn.is_valid(re.sub(r"[ -]", "", number)))


@dataclass(frozen=True, slots=True)
class _Match:
    kind: PIIKind
    start: int
    end: int
    key: str
    """The value normalised, so the same value gets the same placeholder."""


def _emails(text: str) -> Iterable[_Match]:
    for m in _EMAIL.finditer(text):
        yield _Match("email", m.start(), m.end(), m.group().lower())


def _ibans(text: str) -> Iterable[_Match]:
    position = 0
    while match := _IBAN.search(text, position):
        found = _iban_at(match.group())
        if found is None:
            position = match.start() + 1
            continue
        end, compact = found
        yield _Match("iban", match.start(), match.start() + end, compact)
        position = match.start() + end


def _iban_at(raw: str) -> tuple[int, str] | None:
    """``(length in raw, compact IBAN)`` of the valid IBAN ``raw`` starts with, if any.

    The pattern may run into following words or a second IBAN, so the country's
    registered length decides where it ends (15-34 characters for other countries).
    """
    compact_positions = [i for i, c in enumerate(raw) if c != " "]
    expected = _IBAN_LENGTHS.get(raw[:2].upper())
    lengths = [expected] if expected else range(min(34, len(compact_positions)), 14, -1)
    for length in lengths:
        if length > len(compact_positions):
            continue
        end = compact_positions[length - 1] + 1
        compact = raw[:end].replace(" ", "").upper()
        if iban_valid(compact) and (end == len(raw) or not raw[end].isalnum()):
            return end, compact
    return None


def _cards(text: str) -> Iterable[_Match]:
    for m in _CARD.finditer(text):
        # The pattern may take in a following number ("... 1111 12 items"); try shorter groupings.
        groups = re.split(r"[ -]", m.group())
        for count in range(len(groups), 0, -1):
            digits = "".join(groups[:count])
            if 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits):
                end = m.start() + len(" ".join(groups[:count]))
                yield _Match("card", m.start(), end, digits)
                break


def _ssns(text: str) -> Iterable[_Match]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group()):
            yield _Match("ssn", m.start(), m.end(), re.sub(r"\D", "", m.group()))
    for m in _SSN_CUED.finditer(text):
        if ssn_valid(m.group(1)):
            yield _Match("ssn", m.start(1), m.end(1), m.group(1))


def _dobs(text: str) -> Iterable[_Match]:
    for m in _DOB.finditer(text):
        yield _Match("dob", m.start(1), m.end(1), m.group(1).lower())


def _ipv6s(text: str) -> Iterable[_Match]:
    for m in _IPV6.finditer(text):
        raw = m.group()
        if sum(1 for group in raw.split(":") if group) < 2:
            continue
        try:
            address = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        yield _Match("ipv6", m.start(), m.end(), address.compressed)


def _ipv4s(text: str) -> Iterable[_Match]:
    for m in _IPV4.finditer(text):
        yield _Match("ipv4", m.start(), m.end(), m.group())


def _phones(text: str) -> Iterable[_Match]:
    for pattern, (low, high) in zip(_PHONES, ((8, 15), (10, 11), (10, 12)), strict=True):
        for m in pattern.finditer(text):
            raw = m.group()
            digits = re.sub(r"\D", "", raw)
            if not low <= len(digits) <= high or _DATE.match(raw):
                continue
            if raw.isdigit():  # a bare run of digits is more likely an id than a phone number
                continue
            yield _Match("phone", m.start(), m.end(), digits.removeprefix("00"))


_FINDERS: dict[PIIKind, Callable[[str], Iterable[_Match]]] = {
    "email": _emails, "iban": _ibans, "card": _cards, "ssn": _ssns, "dob": _dobs, "ipv4": _ipv4s,
    "ipv6": _ipv6s, "phone": _phones,
}


@dataclass(frozen=True)
class Redaction:
    """A redacted text and what was taken out of it."""

    text: str
    """The text with every match replaced by its placeholder."""
    found: dict[str, int] = field(default_factory=dict)
    """Matches per kind (only kinds that occurred), e.g. ``{"email": 2}``."""
    replacements: dict[str, str] = field(default_factory=dict, repr=False)
    """Placeholder -> original value, to put values back into a model's answer. Never log it."""

    @property
    def redacted(self) -> bool:
        """Whether anything was replaced."""
        return bool(self.found)

    def restore(self, text: str) -> str:
        """Put the original values back wherever ``text`` contains a placeholder."""
        if not self.replacements:
            return text
        pattern = re.compile("|".join(re.escape(p) for p in self.replacements))
        return pattern.sub(lambda m: self.replacements[m.group()], text)


def redact(text: str, kinds: Sequence[PIIKind] = KINDS) -> Redaction:
    """Replace the kinds of personal data :data:`KINDS` lists in ``text`` (and nothing else: see
    :data:`NOT_COVERED`)."""
    claimed: list[_Match] = []
    for kind in KINDS:
        if kind not in kinds:
            continue
        for match in _FINDERS[kind](text):
            if not any(match.start < c.end and c.start < match.end for c in claimed):
                claimed.append(match)
    claimed.sort(key=lambda m: m.start)
    placeholders: dict[tuple[PIIKind, str], str] = {}
    found: dict[str, int] = {}
    replacements: dict[str, str] = {}
    parts: list[str] = []
    position = 0
    for match in claimed:
        found[match.kind] = found.get(match.kind, 0) + 1
        numbered = sum(1 for k, _ in placeholders if k == match.kind) + 1
        placeholder = placeholders.setdefault((match.kind, match.key), f"[{match.kind.upper()}_{numbered}]")
        replacements.setdefault(placeholder, text[match.start:match.end])
        parts.append(text[position:match.start])
        parts.append(placeholder)
        position = match.end
    parts.append(text[position:])
    if found:
        log.debug("pii.redacted", found=found)
    return Redaction("".join(parts), found, replacements)


class RedactPIIInput(BaseModel):
    """What :class:`RedactPII` reads."""

    text: str = Field(description="The text to redact.")
    kinds: list[PIIKind] = Field(default_factory=lambda: list(KINDS),
                                 description="Which kinds of personal data to redact (default: all).")


class RedactPIIOutput(BaseModel):
    """The redacted text and counts; never the removed values."""

    text: str = Field(description="The text with placeholders such as [EMAIL_1] instead of personal data.")
    found: dict[str, int] = Field(description="How many matches of each kind were replaced.")


class RedactPII(Tool[RedactPIIInput, RedactPIIOutput]):
    """Replaces personal data with typed placeholders."""

    name = "redact_pii"
    description = (
        "Remove some kinds of personal data from a text before it is shared: email addresses, phone "
        "numbers, payment card numbers (Luhn-checked), IBANs and US SSNs (checksum-validated), dates of "
        "birth after a cue such as 'DOB:', IPv4 and IPv6 addresses are replaced with typed placeholders "
        "such as [EMAIL_1] or [CARD_1]; the same value always gets the same placeholder. It does NOT find "
        "names, street addresses or passport numbers. Returns the redacted text and found (count per "
        "kind). Deterministic, no model. Do not use it before a step that must read the removed values."
    )
    Input = RedactPIIInput
    Output = RedactPIIOutput

    def run(self, request: RedactPIIInput) -> RedactPIIOutput:
        result = redact(request.text, request.kinds)
        return RedactPIIOutput(text=result.text, found=result.found)


__all__ = ["KINDS", "NOT_COVERED", "PIIKind", "RedactPII", "RedactPIIInput", "RedactPIIOutput", "Redaction",
           "iban_valid", "luhn_valid", "redact", "ssn_valid"]
