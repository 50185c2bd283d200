"""Span features: what the learned ranker knows of a candidate span (its label, place, shape, kind).

:func:`candidate_pool` lists the spans a field could take: the hand-written finders'
candidates (:mod:`orchestrator.agents._candidates`, their prior a feature) and, for
kinds written over several lines (companies, addresses, free text), every run of up to
:data:`MAX_JOINED` adjacent header lines joined with spaces. :func:`span_features`
describes one span as a sparse mapping of named features, the input of
:class:`~orchestrator.agents._ranker.SpanRanker`.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from orchestrator.agents._candidates import UNLIKELY, Candidate, Kind, find_candidates
from orchestrator.agents._candidates.spans import lines
from orchestrator.agents._grounding import normalise, parse_amount, parse_date

MAX_JOINED = 5
"""Adjacent lines a joined candidate spans at most."""
HEADER_LINES = 16
"""Lines from the top in which joined candidates start (names and addresses open a document)."""
MULTI_LINE_KINDS: frozenset[str] = frozenset({"company", "address", "text", "name", "product"})
"""Kinds written over several lines: joined-line spans are offered, and partial matches teach."""
_TOKEN = re.compile(r"[a-z]+")
_ALNUM = re.compile(r"[a-z0-9]+")
_REGISTRATION = re.compile(
    r"\s*\([^()]*\d{3,}[^()]*\)\s*$|\s*\(?\d{3,}[\w\-]*\)?\s*$|\s+\(?\d{5,}-?[A-Z]\)?(?:\s.*)?$|^#?\d+\s+"
)
"""A company registration number (``(139386 X)``, ``789417-W``, with what follows it) or a leading
number (``#000002``): cut from a joined name to give a variant."""


def squeeze(value: Any) -> str:
    """Lower-case letters and digits only: how names and addresses are compared."""
    return "".join(_ALNUM.findall(str(value).lower()))


def same_value(value: Any, gold: Any, kind: Kind) -> bool:
    """Whether a span means the labelled value: the same day, the same amount, or the same letters
    and digits (case, spacing and punctuation aside)."""
    if value is None or gold is None:
        return value is None and gold is None
    if kind == "date":
        day = parse_date(str(value).strip())
        return day is not None and day == parse_date(str(gold).strip())
    if kind in ("money", "number"):
        amount = parse_amount(value)
        return amount is not None and amount == parse_amount(gold)
    return bool(squeeze(value)) and squeeze(value) == squeeze(gold)


def token_f1(value: Any, gold: Any) -> float:
    """The F1 of the letter-and-digit words of ``value`` against ``gold`` (as multisets), 0 to 1.

    Partial credit for names and addresses: OCR often drops a line of a labelled address, so
    no span can equal it, while the span holding the rest of it is still the one to learn.
    """
    got, want = _ALNUM.findall(str(value).lower()), _ALNUM.findall(str(gold).lower())
    if not got or not want:
        return 0.0
    pool: dict[str, int] = {}
    for word in want:
        pool[word] = pool.get(word, 0) + 1
    common = 0
    for word in got:
        if pool.get(word, 0) > 0:
            pool[word] -= 1
            common += 1
    return 0.0 if common == 0 else 2 * common / (len(got) + len(want))


@dataclass(frozen=True, slots=True)
class Span:
    """A candidate value and where it sits: its first and last line, and its finder's prior."""

    value: str
    start: int
    first_line: int
    last_line: int
    prior: float | None
    """The hand-written finder's score, or None for a joined-lines span no finder offered."""
    prior_rank: int | None = None


@dataclass(slots=True)
class Document:
    """A text cut into lines once, for every field and span read from it."""

    text: str
    lines: list[tuple[int, str]] = field(init=False)
    starts: list[int] = field(init=False)
    amounts: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = lines(self.text)
        self.starts = [start for start, _ in self.lines]
        found = {a for a in (parse_amount(m) for m in re.findall(r"\d[\d,]*\.\d{2}\b", self.text)) if a is not None}
        self.amounts = sorted(found, reverse=True)

    def line_of(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.starts, offset) - 1)


def candidate_pool(doc: Document, kind: Kind, hint: str = "") -> list[Span]:
    """Every span a field of ``kind`` could take: the finders' candidates and joined header lines."""
    found = find_candidates(doc.text, kind, limit=10_000, hint=hint)
    spans: dict[str, Span] = {}
    for rank, cand in enumerate(found):
        spans.setdefault(normalise(cand.value), _span_of(doc, cand, rank))
    if kind in MULTI_LINE_KINDS:
        for first in range(min(HEADER_LINES, len(doc.lines))):
            joined = ""
            for last in range(first, min(first + MAX_JOINED, len(doc.lines))):
                joined = f"{joined} {doc.lines[last][1]}".strip()
                if len(joined) > 160:
                    break
                for variant in dict.fromkeys((joined, _REGISTRATION.sub("", joined).strip())):
                    if variant:
                        spans.setdefault(normalise(variant), Span(variant, doc.lines[first][0], first, last, None))
    return list(spans.values())


def _span_of(doc: Document, cand: Candidate, rank: int) -> Span:
    first = doc.line_of(cand.start)
    last = doc.line_of(cand.start + max(0, len(cand.value) - 1))
    return Span(cand.value, cand.start, first, max(first, last), max(UNLIKELY, min(6.0, cand.score)), rank)


def _bucket(value: int, edges: tuple[int, ...]) -> str:
    for edge in edges:
        if value <= edge:
            return str(edge)
    return f">{edges[-1]}"


def _tokens(line: str, limit: int = 6) -> list[str]:
    return _TOKEN.findall(line.lower())[:limit]


def _shape(value: str) -> str:
    return re.sub(r"[a-z]+", "a", re.sub(r"\d+", "9", value.lower()))[:16]


def span_features(doc: Document, span: Span, kind: Kind, hint_words: frozenset[str]) -> dict[str, float]:
    """The span as named features: its finder's prior, its line and neighbours' words, its place in
    the document, its shape, and facts its kind makes relevant (the largest amount, a date that parses)."""
    n_lines = len(doc.lines)
    own = doc.lines[span.first_line][1] if doc.lines else ""
    label = own.replace(span.value, " ") if span.first_line == span.last_line else ""
    feats: dict[str, float] = {"bias": 1.0, f"lines={span.last_line - span.first_line + 1}": 1.0}
    if span.prior is None:
        feats["joined_only"] = 1.0
    else:
        feats["prior"] = span.prior
        feats[f"prior_rank={_bucket(span.prior_rank or 0, (0, 1, 2, 4))}"] = 1.0
    feats[f"line={_bucket(span.first_line, (0, 1, 2, 3, 4, 5, 8, 12, 20))}"] = 1.0
    feats[f"from_end={_bucket(n_lines - 1 - span.last_line, (0, 1, 2, 4, 8, 16))}"] = 1.0
    feats[f"rel={int(10 * span.first_line / max(1, n_lines))}"] = 1.0
    neighbours = {"lw": label, "pw": _line(doc, span.first_line - 1), "p2": _line(doc, span.first_line - 2),
                  "nw": _line(doc, span.last_line + 1), "la": _worded(doc, span.first_line, -1)}
    labelled = 0
    for prefix, words in neighbours.items():
        tokens = _tokens(words)
        for token in tokens:
            feats[f"{prefix}:{token}"] = 1.0
            labelled += prefix in ("lw", "pw") and token in hint_words

    if labelled:
        feats["label_names_field"] = float(min(labelled, 3))
    _add_shape(feats, span.value, own)
    _add_kind_facts(feats, doc, span, kind)
    return feats


def _worded(doc: Document, index: int, step: int) -> str:
    """The nearest line above (``step`` -1) or below (+1) with a word in it, within four lines: the
    label of a value printed under it, past lines of punctuation (``TOTAL`` / ``:`` / ``3.90``)."""
    for offset in range(1, 5):
        line = _line(doc, index + step * offset)
        if re.search(r"[A-Za-z]{2,}", line):
            return line
    return "<none>"


def _line(doc: Document, index: int) -> str:
    return doc.lines[index][1] if 0 <= index < len(doc.lines) else "<none>"


def _add_shape(feats: dict[str, float], value: str, own_line: str) -> None:
    digits = sum(ch.isdigit() for ch in value)
    letters = sum(ch.isalpha() for ch in value)
    feats[f"len={_bucket(len(value), (2, 4, 8, 16, 32, 64))}"] = 1.0
    feats[f"digit_share={int(4 * digits / max(1, len(value)))}"] = 1.0
    if letters and value.upper() == value:
        feats["upper"] = 1.0
    if value[:1] and not value[:1].isalnum():
        feats[f"opens:{value[:1]}"] = 1.0
    if value.strip() == own_line.strip():
        feats["whole_line"] = 1.0
    for token in _tokens(value, limit=10):
        feats[f"vw:{token}"] = 1.0
    if len(value) <= 24:
        feats[f"shape:{_shape(value)}"] = 1.0


def _add_kind_facts(feats: dict[str, float], doc: Document, span: Span, kind: Kind) -> None:
    if kind in ("money", "number"):
        amount = parse_amount(span.value)
        if amount is not None and amount in doc.amounts:
            feats[f"amount_rank={_bucket(doc.amounts.index(amount), (0, 1, 2, 4))}"] = 1.0
        feats[f"repeats={min(3, doc.text.count(span.value))}"] = 1.0
        if re.search(r"[$€£]|rm", span.value, re.IGNORECASE):
            feats["currency_sign"] = 1.0
    elif kind == "date":
        feats["parses" if parse_date(span.value) else "does_not_parse"] = 1.0


__all__ = [
    "HEADER_LINES", "MAX_JOINED", "MULTI_LINE_KINDS", "Document", "Span", "candidate_pool", "same_value",
    "span_features", "squeeze", "token_f1"]
