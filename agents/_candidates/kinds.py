"""The kinds of value a field takes, and the one table that maps each kind to its finder and check.

:func:`infer_kind` reads a field's kind from its JSON-schema type/format, name
and description; :data:`KINDS` gives each kind a finder (the scored candidate
spans of a text) and a check (whether a value has the kind's shape).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from orchestrator.agents._candidates.companies import address_candidates, company_candidates
from orchestrator.agents._candidates.contact import email_candidates, is_email, is_phone, phone_candidates
from orchestrator.agents._candidates.dates import date_candidates, is_date
from orchestrator.agents._candidates.ids import id_candidates
from orchestrator.agents._candidates.money import (
    currency_candidates,
    is_amount,
    is_currency,
    money_candidates,
    number_candidates,
)
from orchestrator.agents._candidates.people import name_candidates
from orchestrator.agents._candidates.products import product_candidates
from orchestrator.agents._candidates.spans import UNLIKELY, Candidate, dedupe, line_candidates

Kind = Literal[
    "date", "money", "currency", "number", "email", "phone", "id", "name", "company", "address", "product", "text"
]

Finder = Callable[[str, str], list[Candidate]]
"""``finder(text, hint)``: scored candidate spans; ``hint`` is the field's name and description."""


def _written(value: Any) -> bool:
    return bool(str(value).strip())


@dataclass(frozen=True, slots=True)
class KindSpec:
    """How one kind of value is found in a text and checked."""

    find: Finder
    """The candidate spans of a text, each with a prior score (duplicates and unlikely ones allowed)."""
    valid: Callable[[Any], bool] = _written
    """Whether a (non-null) value has the shape this kind needs; by default, any non-blank value."""


KINDS: Mapping[Kind, KindSpec] = {
    "date": KindSpec(date_candidates, is_date),
    "money": KindSpec(money_candidates, is_amount),
    "currency": KindSpec(currency_candidates, is_currency),
    "number": KindSpec(number_candidates, is_amount),
    "email": KindSpec(email_candidates, is_email),
    "phone": KindSpec(phone_candidates, is_phone),
    "id": KindSpec(id_candidates),
    "name": KindSpec(name_candidates),
    "company": KindSpec(company_candidates),
    "address": KindSpec(address_candidates),
    "product": KindSpec(product_candidates),
    "text": KindSpec(line_candidates),
}
"""Every kind's finder and check: the one place a new kind is added."""


def _kind(kind: Kind) -> KindSpec:
    return KINDS.get(kind, KINDS["text"])  # a kind not in the table (from untyped callers) reads as text


_NAME_RULES: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("company", re.compile(r"company|vendor|merchant|seller|store|shop|supplier|organi[sz]ation|business")),
    ("address", re.compile(r"address|location")),
    ("product", re.compile(r"product|item|device|model|plan|service|subscription|\bapp\b")),
    ("id", re.compile(r"\bid\b|_id\b|number|\bno\b|code|invoice|reference|\bref\b|order|account")),
    ("name", re.compile(r"name|person|customer|contact|author|who")),
)
"""Kinds told by a field's words alone, in order, after the typed kinds (see :func:`infer_kind`)."""


def _typed_kind(name: str, words: str, fmt: str, type_list: list[Any]) -> Kind | None:
    """The kinds a format or type settles, and those whose words outrank a type (a ``total``)."""
    if fmt in ("date", "date-time") or re.search(r"\bdate\b|_date|date_|\bday\b|\bdob\b", words):
        return "date"
    if fmt == "currency" or "currenc" in name.lower():
        return "currency"
    if fmt == "email" or "email" in words or "e-mail" in words:
        return "email"
    if re.search(r"phone|\btel\b|mobile|\bfax\b", words):
        return "phone"
    if re.search(r"total|amount|price|cost|sum|balance|\bfee\b|\btax\b|paid|money", words):
        return "money"
    if "number" in type_list or "integer" in type_list:
        return "number"
    if "currenc" in words:
        return "currency"
    return None


def infer_kind(name: str, schema: Mapping[str, Any]) -> Kind:
    """Which kind of span a field takes, from its JSON-schema type/format, name and description."""
    words = f"{name} {schema.get('description', '')}".lower()
    types = schema.get("type")
    typed = _typed_kind(name, words, str(schema.get("format", "")), types if isinstance(types, list) else [types])
    if typed is not None:
        return typed
    return next((kind for kind, pattern in _NAME_RULES if pattern.search(words)), "text")


def find_candidates(text: str, kind: Kind, *, limit: int = 8, hint: str = "") -> list[Candidate]:
    """Spans of ``text`` that could fill a field of ``kind``, best first, at most ``limit``.

    ``hint`` (the field's name and description) lets a field ask for one kind of identifier
    over another: ``customer_id`` takes a ``Customer ID:`` value that an order number would not.
    """
    found = [c for c in _kind(kind).find(text, hint) if c.score > UNLIKELY]
    ranked = sorted(dedupe(found), key=lambda c: (-c.score, c.start))
    return ranked[:limit]


def valid_for_kind(value: Any, kind: Kind) -> bool:
    """Whether ``value`` has the shape its kind needs (dates parse, amounts are numbers, ...)."""
    return value is None or _kind(kind).valid(value)


__all__ = ["KINDS", "Finder", "Kind", "KindSpec", "find_candidates", "infer_kind", "valid_for_kind"]
