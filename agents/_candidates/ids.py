"""Identifiers: the ``id`` kind (invoice, order, booking and ticket numbers, codes).

An identifier ranks by its label: ``Invoice No: X`` and ``order X`` rank first;
a VAT, phone or merchant number (unless the field asks for one), a year or a
postcode rank last, and pieces of dates and phone numbers are not offered.
"""

from __future__ import annotations

import re

from orchestrator.agents._candidates.patterns import DATE_RE, PHONE_RE, STREET, phone_like
from orchestrator.agents._candidates.spans import UNLIKELY, Candidate, line_at, line_prefix, matches

_ID_RE = re.compile(r"\b(?=[A-Z0-9\-/]*\d)[A-Z0-9][A-Z0-9\-/]{3,}\b")
_ID_LABEL = re.compile(
    r"\b(invoice|receipt|order|beleg|bon|rechnung|bestell\w*|ref\w*|booking|transaction|ticket|case|document)"
    r"[\s\-.]*(?:no|nr|num\w*|#|id)?[\s.:#]*$"
)
_OTHER_ID_LABEL = re.compile(
    r"\b(vat|gst|tax|ust|steuer\w*|idnr|reg\w*|tel\w*|phone|fax|iban|swift|bic|merchant|customer|account|"
    r"member|sku|model|serial|part)[\s\-.]*(?:no|nr|num\w*|#|id)?[\s.:#]*$"
)
_YEAR = re.compile(r"(?:19|20)\d{2}")


def _label_score(prefix: str, hint_words: set[str]) -> float:
    """What the label before an identifier says: the kind the field asks for, or another kind."""
    if (label := _ID_LABEL.search(prefix)) is not None:
        return 2.0 if label.group(1) in hint_words or not hint_words else 1.5
    if (other := _OTHER_ID_LABEL.search(prefix)) is not None:
        return 2.0 if other.group(1) in hint_words else UNLIKELY
    return 0.0


def id_candidates(text: str, hint: str = "") -> list[Candidate]:
    """Codes and numbers, ranked by their label: ``Invoice No: X`` and ``order X`` rank first; a VAT,
    phone or merchant number (unless ``hint`` asks for one), a year or a postcode rank last."""
    # pieces of a date or of a phone number ("010-2030" in "(555) 010-2030") are not identifiers
    dates = [(m.start(), m.end()) for m in DATE_RE.finditer(text)]
    phones = [(m.start(), m.end()) for m in PHONE_RE.finditer(text) if phone_like(m.group())]
    hint_words = set(re.findall(r"[a-z]+", hint.lower()))
    found: list[Candidate] = []
    for cand in matches(_ID_RE, text):
        end = cand.start + len(cand.value)
        if any(s <= cand.start and end <= e for s, e in dates) \
                or any(s <= cand.start and end <= e and e - s > len(cand.value) for s, e in phones):
            continue
        score = _label_score(line_prefix(text, cand.start), hint_words)
        if _YEAR.fullmatch(cand.value):
            score -= 1.5
        elif cand.value.isdigit() and STREET.search(line_at(text, cand.start)):
            score -= 1.5  # a postcode
        found.append(Candidate(cand.value, cand.start, score))
    return found


__all__ = ["id_candidates"]
