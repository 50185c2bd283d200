"""The span patterns more than one kind reads: dates, amounts, phones, emails, names, streets.

A finder uses them to find its own kind and to recognise spans of another kind
(an identifier inside a date, a company line that holds an amount).
"""

from __future__ import annotations

import re

DATE_RE = re.compile(
    r"\b(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}[/\-]\d{1,2}[/\-]\d{1,2}"
    r"|\d{1,2}[ \-]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*[ \-,]*\d{2,4}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]* \d{1,2},? \d{4})\b",
    re.IGNORECASE,
)
# Amounts with two decimals, written 1,234.50 or 1.234,50, or a currency and an integer.
_CURRENCY_PREFIX = r"(?:[$€£]|RM|USD|EUR|GBP)"
MONEY_RE = re.compile(
    rf"(?<![\w./:\-,]){_CURRENCY_PREFIX}?\s?-?\d{{1,3}}(?:,\d{{3}})*\.\d{{2}}(?![\w/%]|[.,]\d)"
    rf"|(?<![\w./:\-,]){_CURRENCY_PREFIX}?\s?-?\d{{1,3}}(?:\.\d{{3}})*,\d{{2}}(?![\w/%]|[.,]\d)"
    rf"|(?<![\w./:\-,]){_CURRENCY_PREFIX}\s?-?\d+(?![\w/%]|[.,]\d)",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
PHONE_RE = re.compile(r"(?<!\w)\+?\(?\d[\d ()\-]{6,}\d(?!\w)")
# A line that is an address: a street word (English, Malay, German) or a postcode.
STREET = re.compile(
    r"(?i:\b(?:jalan|jln|street|st\.|road|rd|avenue|ave|lane|drive|way|unit|suite|floor|taman|"
    r"\w*(?:strasse|straße|str\.|weg|gasse|platz|allee))(?!\w))"
    r"|\b\d{4,5}\b(?=\s+[A-Z][a-z])|\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b"
)
NAME_RE = re.compile(r"\b[A-Z][a-z]+(?:[ \-][A-Z][a-z]+)+\b")
"""Two or more capitalised words: a person's name, or a brand and its model."""
COMMON_OPENERS = frozenset(
    "hello hi dear thank thanks this that your my our the subject refund order please regards best i we it "
    "you they he she monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december kind many cheers".split()
)
"""Capitalised words that open a sentence or a greeting rather than a name."""


def phone_like(value: str) -> bool:
    """Whether ``value`` has the seven or more digits of a phone number."""
    return sum(ch.isdigit() for ch in value) >= 7


__all__ = ["COMMON_OPENERS", "DATE_RE", "EMAIL_RE", "MONEY_RE", "NAME_RE", "PHONE_RE", "STREET", "phone_like"]
