"""People: the ``name`` kind. Two or three capitalised words, ranked up on a ``Contact:`` or
``From:`` line or as a signature, down when they name an organisation or open a greeting."""

from __future__ import annotations

import re

from orchestrator.agents._candidates.patterns import COMMON_OPENERS, NAME_RE
from orchestrator.agents._candidates.spans import Candidate, line_candidates, line_prefix, lines

# Words that make a capitalised phrase an organisation, a team or a product rather than a person.
_ORGANISATION_WORDS = frozenset(
    "supplies supply ltd limited inc gmbh llc plc corp corporation company co group holdings services service "
    "solutions systems software technologies technology tech labs partners industries international "
    "enterprises enterprise trading store shop mart hardware tools bank foods restaurant cafe hotel team "
    "support department university school agency studio consulting review report quarter".split()
)
_PERSON_LABEL = re.compile(r"\b(?:contact|from|name|customer|signed|sender|requester|by|regards|thanks)\W*$")
_ORGANISATION_LABEL = re.compile(r"\b(?:merchant|company|account|business|organi[sz]ation|vendor|shop|store|at)\b.*$")


def _without_openers(value: str, start: int) -> tuple[str, int]:
    """The name with leading greeting or sentence words taken off ("Hello Maria Lopez")."""
    while (opener := re.match(r"(\w+)[ \-]", value)) and opener.group(1).lower() in COMMON_OPENERS:
        value, start = value[opener.end() :], start + opener.end()
    return value, start


def person_candidates(text: str) -> list[Candidate]:
    """Two or three capitalised words, ranked up on a ``Contact:``/``From:`` line or as a signature,
    down when they name an organisation (``Brightleaf Garden Supplies``) or open a greeting."""
    signature_lines = {start for start, _ in lines(text)[-3:]}
    found: list[Candidate] = []
    for match in NAME_RE.finditer(text):
        value, start = _without_openers(match.group(), match.start())
        words = value.replace("-", " ").split()
        if len(words) < 2:
            continue  # "Hello Fieldnote": a greeting and one word
        score = 1.0 if len(words) <= 3 else 0.3
        if any(word.lower() in _ORGANISATION_WORDS for word in words):
            score -= 2.0
        prefix = line_prefix(text, start)
        if _PERSON_LABEL.search(prefix):
            score += 1.0
        elif _ORGANISATION_LABEL.search(prefix):
            score -= 1.0
        if start in signature_lines:
            score += 1.0
        found.append(Candidate(value, start, score))
    return found


def name_candidates(text: str, hint: str = "") -> list[Candidate]:
    """People's names, and the first five lines as weak fallbacks (a name alone on a line)."""
    first_lines = [Candidate(c.value, c.start, -0.5) for c in line_candidates(text)[:5]]
    return [*person_candidates(text), *first_lines]


__all__ = ["name_candidates", "person_candidates"]
