"""Amounts, currencies and plain numbers: the ``money``, ``currency`` and ``number`` kinds.

An amount ranks by its label: one on, or just after, a ``TOTAL`` line ranks
first, a subtotal, tax or cash line last. A currency ranks by whether it sits
beside an amount, on a line labelled as the currency, or repeats.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from orchestrator.agents._candidates.patterns import MONEY_RE
from orchestrator.agents._candidates.spans import Candidate, lines, matches
from orchestrator.agents._grounding import parse_amount

_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_STRONG_TOTAL = re.compile(
    r"grand\s*total|nett?\s*(?:total|amt|amount)|total\s*(?:amount|payable|due|incl|inclusive|rm|\(rm)"
    r"|amount\s*(?:due|payable)|balance\s*due|total\s*sales\s*\(?incl"
    r"|gesamt(?:betrag|summe)?|endbetrag|zu\s*zahlen|total\s*ttc|montant\s*total|importe\s*total",
    re.IGNORECASE,
)
_NOT_TOTAL = re.compile(
    r"sub\s*-?\s*total|zwischensumme|saving|qty|quantity|count|\bitems?\b|\btax\b|gst|vat|mwst|\bust\b|"
    r"change|tender|\bcash\b|\bbar\b|gegeben|r(?:ü|ue)ckgeld|netto|trinkgeld|\btip\b|"
    r"discount|excl|adj|unit|price|\bpaid\b|received",
    re.IGNORECASE,
)
_AMOUNT_ONLY = re.compile(r"^[\W\d]*$")


def total_label_score(line: str) -> float:
    """How strongly a label line says "the amount here is the document's total"."""
    if _STRONG_TOTAL.search(line):
        return 3.0
    if _NOT_TOTAL.search(line):
        return -1.0
    if re.search(r"\b(?:total|summe|sum)\b", line, re.IGNORECASE):
        return 2.5
    if re.search(r"\b(?:rounded|rounding|payable|due|net)\b", line, re.IGNORECASE):
        return 1.5
    if re.search(r"\b(?:amount|betrag)\b", line, re.IGNORECASE):
        return 0.5
    return 0.0


def _label_of_amount(text_lines: list[tuple[int, str]], index: int) -> float:
    """The total-label score of the amount's own line, or of the nearest label line above it."""
    same_line = text_lines[index][1] if text_lines else ""
    if re.search(r"[A-Za-z]{2,}", MONEY_RE.sub("", same_line)):
        return total_label_score(same_line)
    # the nearest label above, skipping punctuation and bare counts, stopping at another amount
    for back, decay in ((1, 0.9), (2, 0.7), (3, 0.5), (4, 0.3)):
        if index - back < 0:
            break
        line = text_lines[index - back][1]
        if _AMOUNT_ONLY.match(line):
            if MONEY_RE.search(line):
                break
            continue
        return total_label_score(line) * decay
    return 0.0


def money_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Amounts ranked by their label: an amount on, or just after, a TOTAL line ranks first."""
    text_lines = lines(text)
    starts = [start for start, _ in text_lines]
    amounts = matches(MONEY_RE, text)
    counts: dict[float | None, int] = {}
    for cand in amounts:
        counts[parse_amount(cand.value)] = counts.get(parse_amount(cand.value), 0) + 1
    found: list[Candidate] = []
    for cand in amounts:
        index = max(0, bisect.bisect_right(starts, cand.start) - 1)
        score = _label_of_amount(text_lines, index) + 0.5 * cand.start / max(1, len(text))  # totals come late
        score += 0.3 * min(2, counts[parse_amount(cand.value)] - 1)  # and to repeat (paid, cash, card)
        found.append(Candidate(cand.value, cand.start, score))
    labelled = [parse_amount(c.value) or 0.0 for c in found if c.score >= 1.0]
    if labelled:  # among labelled amounts the largest is the usual grand total
        best = max(labelled)
        found = [Candidate(c.value, c.start, c.score + (0.3 if parse_amount(c.value) == best else 0.0)) for c in found]
    return found


def number_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Every number in the text, unranked (the sort keeps them in order of appearance)."""
    return [Candidate(c.value, c.start, 0.0) for c in matches(_NUMBER_RE, text)]


def is_amount(value: Any) -> bool:
    """Whether ``value`` reads as a number (``1,234.50``, ``RM 12``, ``7``)."""
    return parse_amount(value) is not None


CURRENCY_CODES = frozenset(
    "AED AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR INR JPY KRW MXN MYR NOK NZD PHP PLN RUB SEK SGD "
    "THB TRY TWD USD VND ZAR".split()
)
"""ISO 4217 codes recognised as currencies in a text (next to an amount, or anywhere for the commonest)."""
_COMMON_CODES = frozenset({"EUR", "USD", "GBP"})
_CURRENCY_SIGNS = frozenset({"US$", "A$", "C$", "S$", "HK$", "R$", "€", "£", "¥", "₹", "$", "RM"})
_CURRENCY_SIGN_RE = re.compile(r"(?:US|A|C|S|HK|R)\$|[€£¥₹$]|\bRM(?=\s?\d)")
_CURRENCY_CODE_RE = re.compile(r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])")
_NEAR_AMOUNT = 4
"""A currency within this many characters of a digit, or on a line with an amount, goes with an amount."""


def currency_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Currency signs and ISO codes as printed: beside an amount, on the total line, repeated."""
    text_lines = lines(text)
    starts = [start for start, _ in text_lines]
    found: list[Candidate] = []
    codes = [m for m in _CURRENCY_CODE_RE.finditer(text) if m.group() in CURRENCY_CODES]
    for match in [*codes, *_CURRENCY_SIGN_RE.finditer(text)]:
        around = text[max(0, match.start() - _NEAR_AMOUNT) : match.end() + _NEAR_AMOUNT]
        line = text_lines[max(0, bisect.bisect_right(starts, match.start()) - 1)][1] if text_lines else ""
        near_amount = bool(re.search(r"\d", around) or MONEY_RE.search(line))
        labelled = bool(re.search(r"currenc|w(?:ä|ae)hrung|devise|moneda", line, re.IGNORECASE))
        is_sign = match.re is _CURRENCY_SIGN_RE
        if not (near_amount or labelled or is_sign or match.group() in _COMMON_CODES):
            continue  # a bare three-letter word such as PHP or TRY is rarely a currency
        score = 1.0 + (1.0 if near_amount else 0.0) + (1.0 if labelled else 0.0)
        if near_amount and total_label_score(line) >= 2.5:
            score += 0.5
        score += 0.2 * min(3, text.count(match.group()) - 1)
        found.append(Candidate(match.group(), match.start(), score))
    return found


def is_currency(value: Any) -> bool:
    """Whether ``value`` is a currency code or sign we recognise (``EUR``, ``€``, ``RM``)."""
    written = str(value).strip().upper()
    return written in CURRENCY_CODES or written in _CURRENCY_SIGNS


__all__ = [
    "CURRENCY_CODES",
    "currency_candidates",
    "is_amount",
    "is_currency",
    "money_candidates",
    "number_candidates",
    "total_label_score",
]
