"""Spans of a text: the :class:`Candidate` every finder returns, and the line helpers they share."""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.agents._grounding import normalise

UNLIKELY = -2.0
"""Candidates scored at or below this look like another kind of value and are not offered."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of the text that could fill a field, with a heuristic prior score (higher is likelier)."""

    value: str
    start: int
    score: float = 0.0


def lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of ``text``, stripped, each with the offset of its first character."""
    out: list[tuple[int, str]] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            out.append((offset + raw.index(stripped[0]), stripped))
        offset += len(raw)
    return out


def matches(pattern: re.Pattern[str], text: str) -> list[Candidate]:
    """Every non-blank match of ``pattern`` in ``text``, stripped, unscored."""
    return [Candidate(m.group().strip(), m.start()) for m in pattern.finditer(text) if m.group().strip()]


def line_prefix(text: str, start: int, width: int = 40) -> str:
    """The text before ``start`` on its line (at most ``width`` characters), lower case."""
    line_start = text.rfind("\n", 0, start) + 1
    return text[max(line_start, start - width) : start].lower()


def line_at(text: str, start: int) -> str:
    """The whole line of ``text`` that ``start`` is on."""
    end = text.find("\n", start)
    return text[text.rfind("\n", 0, start) + 1 : len(text) if end < 0 else end]


# Lines that open or close a message are never a field's value.
_SALUTATION = re.compile(
    r"^(?:hello|hi|hey|dear|good (?:morning|afternoon|evening)|thanks?|thank you|many thanks|regards|"
    r"best|kind regards|best regards|cheers|sincerely|yours)\b[^.!?]{0,40}[,!.]?$",
    re.IGNORECASE,
)


def line_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Whole lines (greetings and sign-offs left out), earlier lines ranked first: the ``text`` kind."""
    return [
        Candidate(line, start, -0.01 * index)
        for index, (start, line) in enumerate(lines(text))
        if len(line) <= 200 and not _SALUTATION.match(line)
    ]


def dedupe(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per normalised value: the best-scored one (the first of equals)."""
    best: dict[str, Candidate] = {}
    for cand in candidates:
        key = normalise(cand.value)
        if key and (key not in best or cand.score > best[key].score):
            best[key] = cand
    return list(best.values())


__all__ = ["UNLIKELY", "Candidate", "dedupe", "line_at", "line_candidates", "line_prefix", "lines", "matches"]
