"""Contact details: the ``email`` and ``phone`` kinds, in order of appearance."""

from __future__ import annotations

from typing import Any

from orchestrator.agents._candidates.patterns import EMAIL_RE, PHONE_RE, phone_like
from orchestrator.agents._candidates.spans import Candidate, matches


def email_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Every email address in the text."""
    return matches(EMAIL_RE, text)


def phone_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Digit runs with the seven or more digits of a phone number (spaces, dashes, brackets allowed)."""
    return [c for c in matches(PHONE_RE, text) if phone_like(c.value)]


def is_email(value: Any) -> bool:
    """Whether ``value`` is one email address."""
    return EMAIL_RE.fullmatch(str(value).strip()) is not None


def is_phone(value: Any) -> bool:
    """Whether ``value`` holds a phone number's seven or more digits."""
    return phone_like(str(value))


__all__ = ["email_candidates", "is_email", "is_phone", "phone_candidates"]
