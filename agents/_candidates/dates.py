"""Dates: the ``date`` kind. Dates that parse rank first, and the first date of a document
(usually its own date) leads the others."""

from __future__ import annotations

from typing import Any

from orchestrator.agents._candidates.patterns import DATE_RE
from orchestrator.agents._candidates.spans import Candidate, matches
from orchestrator.agents._grounding import parse_date


def date_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Date-shaped spans: those that parse score 1, in order of appearance."""
    found = [Candidate(c.value, c.start, 1.0 if parse_date(c.value) else 0.0) for c in matches(DATE_RE, text)]
    # the first date on a document is usually its date
    return [Candidate(c.value, c.start, c.score - 0.001 * i) for i, c in enumerate(found)]


def is_date(value: Any) -> bool:
    """Whether ``value`` parses as a calendar date."""
    return parse_date(str(value)) is not None


__all__ = ["date_candidates", "is_date"]
