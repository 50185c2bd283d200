"""Grounding helpers shared by the specialists: spans, sentences, extractive selection.

Small models copy values from the prompt's examples or invent them. These
helpers keep answers tied to the input: :func:`find_candidates` lists spans of
the text that could fill a field (dates, amounts, emails, ids, names, lines),
ranked by deterministic heuristics; :func:`occurs_in` checks a value appears in
the text; :func:`split_sentences` and :func:`select_sentences` pick a faithful
extractive summary. :func:`choose` adapts a backend's log-likelihood scoring
method (llama.cpp's ``choose``) when the model has one.
"""

from __future__ import annotations

import bisect
import hashlib
import inspect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["date", "money", "number", "email", "phone", "id", "name", "company", "address", "product", "text"]
Vector = npt.NDArray[np.float64]

# -- normalisation and occurrence -------------------------------------------

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed, trimmed: how values are compared with the text."""
    return _SPACE.sub(" ", text).strip().lower()


def _alnum(text: str) -> str:
    return "".join(_WORD.findall(text.lower()))


def occurs_in(value: Any, text: str) -> bool:
    """Whether ``value`` occurs in ``text`` after normalisation (case, spacing, punctuation).

    Numbers match their written forms too: ``12.5`` matches ``12.50`` and ``RM 12.50``.
    """
    if value is None:
        return True
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return any(abs(amount - float(value)) < 1e-9 for amount in _amounts_in(text))
    if isinstance(value, list):
        return all(occurs_in(v, text) for v in value)
    if isinstance(value, dict):
        return all(occurs_in(v, text) for v in value.values())
    needle = normalise(str(value))
    if not needle:
        return True
    if needle in normalise(text):
        return True
    squeezed = _alnum(needle)
    return bool(squeezed) and squeezed in _alnum(text)


# -- typed parsing ------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])[-]?\d{1,3}(?:[,\s]\d{3})*(?:\.\d+)?(?![\w])|(?<![\w.])[-]?\d+(?:\.\d+)?(?!\w)")
_DATE_FORMATS = (
    "%d/%m/%Y",
    "%d/%m/%y",
    "%d-%m-%Y",
    "%d-%m-%y",
    "%d.%m.%Y",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %y",
    "%d%b%Y",
)


def parse_amount(value: Any) -> float | None:
    """A number from ``value`` (``"RM 1,234.50"`` -> 1234.5), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    cleaned = re.sub(r"[^\d.,\-]", "", value)
    if not re.search(r"\d", cleaned):
        return None
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        head, _, tail = cleaned.rpartition(",")
        cleaned = f"{head.replace(',', '')}.{tail}" if len(tail) == 2 else cleaned.replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def parse_date(value: Any) -> date | None:
    """A date from a written date in common formats, or None."""
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", value.strip().rstrip(".,"))
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _amounts_in(text: str) -> list[float]:
    found: list[float] = []
    for match in _NUMBER.finditer(text):
        amount = parse_amount(match.group())
        if amount is not None:
            found.append(amount)
    return found


# -- candidate spans ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A span of the text that could fill a field, with a heuristic prior score (higher is likelier)."""

    value: str
    start: int
    score: float = 0.0


_DATE_RE = re.compile(
    r"\b(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}[/\-]\d{1,2}[/\-]\d{1,2}"
    r"|\d{1,2}[ \-]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*[ \-,]*\d{2,4}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]* \d{1,2},? \d{4})\b",
    re.IGNORECASE,
)
_MONEY_RE = re.compile(
    r"(?<![\w./:\-])(?:[$€£]|RM|USD|EUR|GBP)?\s?-?\d{1,3}(?:,\d{3})*(?:\.\d{2})(?![\w/%.])"
    r"|(?<![\w./:\-])(?:[$€£]|RM|USD|EUR|GBP)\s?-?\d+(?![\w/%.])",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?![\w])")
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_PHONE_RE = re.compile(r"(?<!\w)\+?\(?\d[\d ()\-]{6,}\d(?!\w)")
_ID_RE = re.compile(r"\b(?=[A-Z0-9\-/]*\d)[A-Z0-9][A-Z0-9\-/]{3,}\b")
_TOTAL_WORDS = re.compile(
    r"\b(grand\s*total|total|amount\s*due|balance\s*due|amount\s*payable|total\s*payable|"
    r"nett?\s*total|rounded|amount|due|payable|sum)\b",
    re.IGNORECASE,
)
_NOT_TOTAL_WORDS = re.compile(
    r"\b(sub\s*-?total|tax|gst|vat|change|cash|tendered|qty|discount|rounding\s*adj|"
    r"unit|price|excl)\b",
    re.IGNORECASE,
)
_COMPANY_SUFFIX = re.compile(
    r"\b(sdn\.?\s*bhd|bhd|inc|ltd|llc|gmbh|corp|co\.|company|enterprise|trading|"
    r"restaurant|store|mart|s/b|plc|pte)\b",
    re.IGNORECASE,
)
_ADDRESS_WORDS = re.compile(
    r"\b(jalan|jln|street|st\.|road|rd|avenue|ave|lot|no\.?|taman|floor|block|"
    r"\d{5})\b",
    re.IGNORECASE,
)
_NAME_RE = re.compile(r"\b[A-Z][a-z]+(?:[ \-][A-Z][a-z]+)+\b")


def infer_kind(name: str, schema: Mapping[str, Any]) -> Kind:
    """Which kind of span a field takes, from its JSON-schema type/format, name and description."""
    words = f"{name} {schema.get('description', '')}".lower()
    fmt = str(schema.get("format", ""))
    types = schema.get("type")
    type_list = types if isinstance(types, list) else [types]
    if fmt in ("date", "date-time") or re.search(r"\bdate\b|_date|date_|\bday\b|\bdob\b", words):
        return "date"
    if fmt == "email" or "email" in words or "e-mail" in words:
        return "email"
    if re.search(r"phone|\btel\b|mobile|\bfax\b", words):
        return "phone"
    if re.search(r"total|amount|price|cost|sum|balance|\bfee\b|\btax\b|paid|money", words):
        return "money"
    if "number" in type_list or "integer" in type_list:
        return "number"
    if re.search(r"company|vendor|merchant|seller|store|shop|supplier|organi[sz]ation|business", words):
        return "company"
    if re.search(r"address|location", words):
        return "address"
    if re.search(r"product|item|device|model|plan|service|subscription|\bapp\b", words):
        return "product"
    if re.search(r"\bid\b|_id\b|number|\bno\b|code|invoice|reference|\bref\b|order|account", words):
        return "id"
    if re.search(r"name|person|customer|contact|author|who", words):
        return "name"
    return "text"


def _lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if stripped:
            out.append((offset + raw.index(stripped[0]), stripped))
        offset += len(raw)
    return out


def _matches(pattern: re.Pattern[str], text: str) -> list[Candidate]:
    return [Candidate(m.group().strip(), m.start()) for m in pattern.finditer(text) if m.group().strip()]


_STRONG_TOTAL = re.compile(
    r"grand\s*total|nett?\s*(?:total|amt|amount)|total\s*(?:amount|payable|due|incl|inclusive|rm|\(rm)"
    r"|amount\s*(?:due|payable)|balance\s*due|total\s*sales\s*\(?incl",
    re.IGNORECASE,
)
_NOT_TOTAL = re.compile(
    r"sub\s*-?\s*total|saving|qty|quantity|count|\bitems?\b|\btax\b|gst|vat|change|tender|\bcash\b|"
    r"discount|excl|adj|unit|price|\bpaid\b|received",
    re.IGNORECASE,
)
_AMOUNT_ONLY = re.compile(r"^[\W\d]*$")


def _total_label_score(line: str) -> float:
    """How strongly a label line says "the amount here is the document's total"."""
    if _STRONG_TOTAL.search(line):
        return 3.0
    if _NOT_TOTAL.search(line):
        return -1.0
    if re.search(r"\btotal\b", line, re.IGNORECASE):
        return 2.5
    if re.search(r"\b(?:rounded|rounding|payable|due|net)\b", line, re.IGNORECASE):
        return 1.5
    if re.search(r"\bamount\b", line, re.IGNORECASE):
        return 0.5
    return 0.0


def _money_candidates(text: str) -> list[Candidate]:
    """Amounts ranked by their label: an amount on, or just after, a TOTAL line ranks first."""
    lines = _lines(text)
    starts = [start for start, _ in lines]
    amounts = _matches(_MONEY_RE, text)
    counts: dict[float | None, int] = {}
    for cand in amounts:
        counts[parse_amount(cand.value)] = counts.get(parse_amount(cand.value), 0) + 1
    found: list[Candidate] = []
    for cand in amounts:
        index = max(0, bisect.bisect_right(starts, cand.start) - 1)
        label = 0.0
        same_line = lines[index][1] if lines else ""
        if re.search(r"[A-Za-z]{2,}", _MONEY_RE.sub("", same_line)):
            label = _total_label_score(same_line)
        else:  # the nearest label above, skipping punctuation and bare counts, stopping at another amount
            for back, decay in ((1, 0.9), (2, 0.7), (3, 0.5), (4, 0.3)):
                if index - back < 0:
                    break
                line = lines[index - back][1]
                if _AMOUNT_ONLY.match(line):
                    if _MONEY_RE.search(line):
                        break
                    continue
                label = _total_label_score(line) * decay
                break
        score = label + 0.5 * cand.start / max(1, len(text))  # totals tend to come late
        score += 0.3 * min(2, counts[parse_amount(cand.value)] - 1)  # and to repeat (paid, cash, card)
        found.append(Candidate(cand.value, cand.start, score))
    labelled = [parse_amount(c.value) or 0.0 for c in found if c.score >= 1.0]
    if labelled:  # among labelled amounts the largest is the usual grand total
        best = max(labelled)
        found = [Candidate(c.value, c.start, c.score + (0.3 if parse_amount(c.value) == best else 0.0)) for c in found]
    return found


_REG_NUMBER = re.compile(
    r"\s*\(?\s*(?:(?:co(?:mpany)?|reg|roc)\.?\s*(?:reg\.?\s*)?no\.?\s*[:.]?)?\s*"
    r"\d{3,}[\w\-]*\s*\)?\s*$",
    re.IGNORECASE,
)
_SUFFIX_LINE = re.compile(r"\(?\s*(?:sdn\.?\s*bhd|bhd|berhad|ltd|inc|s/b|plc|pte)\b.*", re.IGNORECASE)


def _company_candidates(text: str) -> list[Candidate]:
    """Header lines (a company name usually opens a document), joined with a bare suffix line
    (``SDN BHD``), and without a trailing registration number."""
    lines = _lines(text)[:12]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(lines):
        if not re.search(r"[A-Za-z]{2,}", line) or _DATE_RE.search(line):
            continue
        score = 1.0 - index * 0.1
        if _COMPANY_SUFFIX.search(line):
            score += 1.5
        if re.search(r"tel|fax|gst|invoice|receipt|no\.?\s*:|reg|thank|welcome", line, re.IGNORECASE):
            score -= 1.0
        variants = [line]
        if _SUFFIX_LINE.fullmatch(line):  # a bare "SDN BHD" line is the end of a name, not a name
            score -= 2.0
        elif index + 1 < len(lines) and _SUFFIX_LINE.fullmatch(lines[index + 1][1]) and not _SUFFIX_LINE.search(line):
            variants = [f"{line} {lines[index + 1][1]}"]
            score += 2.0
        for variant in variants:
            trimmed = _REG_NUMBER.sub("", variant).strip()
            if trimmed and trimmed != variant and re.search(r"[A-Za-z]{2,}", trimmed):
                found.append(Candidate(trimmed, start, score + 0.2))
            found.append(Candidate(variant, start, score))
    return found


def _address_candidates(text: str) -> list[Candidate]:
    lines = _lines(text)[:20]
    found: list[Candidate] = []
    for index, (start, line) in enumerate(lines):
        if not _ADDRESS_WORDS.search(line):
            continue
        joined = line
        for _, nxt in lines[index + 1 : index + 4]:
            if not _ADDRESS_WORDS.search(nxt) and not re.search(r"[A-Z]{3,}", nxt):
                break
            if re.search(r"tel|fax|gst|invoice|@|\d{2}/\d{2}", nxt, re.IGNORECASE):
                break
            joined = f"{joined}, {nxt}"
        found.append(Candidate(joined, start, 1.0 + 0.2 * joined.count(",") - 0.05 * index))
        found.append(Candidate(line, start, 0.5 - 0.05 * index))
    return found


# Lines that open or close a message are never a field's value.
_SALUTATION = re.compile(
    r"^(?:hello|hi|hey|dear|good (?:morning|afternoon|evening)|thanks?|thank you|many thanks|regards|"
    r"best|kind regards|best regards|cheers|sincerely|yours)\b[^.!?]{0,40}[,!.]?$",
    re.IGNORECASE,
)


def _line_candidates(text: str) -> list[Candidate]:
    return [
        Candidate(line, start, -0.01 * index)
        for index, (start, line) in enumerate(_lines(text))
        if len(line) <= 200 and not _SALUTATION.match(line)
    ]


# A product mention: a brand-like word (capitalised or camel-case), optional model tokens
# ("3000", "X2", "Pro"), then at most two lowercase words that are not function words.
_PRODUCT_RE = re.compile(r"\b([A-Z][a-z]*[A-Z]\w*|[A-Z][a-z]+)((?:[ -][A-Z0-9][\w-]*)*)((?: [a-z]{3,}){0,2})")
_FUNCTION_WORDS = frozenset(
    "the and for from with because on in at to of is was are were it its my your our this that please but "
    "has have had not still been will would can could should about into over under when which who what "
    "every each some any all day days week weeks time times since".split()
)
_COMMON_OPENERS = frozenset(
    "hello hi dear thank thanks this that your my our the subject refund order please regards best i we it "
    "you they he she monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december".split()
)


def _product_candidates(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    for match in _PRODUCT_RE.finditer(text):
        head, model = match.group(1), match.group(2)
        nouns = []
        for word in match.group(3).split():
            if word in _FUNCTION_WORDS:
                break
            nouns.append(word)
        value = " ".join(part for part in (head + model, " ".join(nouns)) if part)
        if head.lower() in _COMMON_OPENERS or _EMAIL_RE.search(value):
            continue
        score = 1.0 + (1.0 if any(ch.isdigit() for ch in model) else 0.0)
        score += 0.5 if any(ch.isupper() for ch in head[1:]) else 0.0
        score += 0.5 * min(text.count(head + model) - 1, 2)
        if not model and not nouns and _NAME_RE.fullmatch(value) is None:
            score -= 0.5  # a lone capitalised word is weak evidence
        if _NAME_RE.fullmatch(value) and not any(ch.isdigit() for ch in value):
            score -= 1.0  # looks like a person's name
        before = text[: match.start()].rstrip()  # hard-wrapped lines do not start sentences
        if (not before or before[-1] in ".!?:") and not any(ch.isdigit() for ch in model) \
                and not any(ch.isupper() for ch in head[1:]):
            score -= 0.5  # sentence-initial capitals are grammar, not a brand
        if head.isupper() and len(head) > 1:
            score -= 2.0  # a code, an acronym or a shouted word (ORD-48213, HTTP 500, URGENT)
        found.append(Candidate(value, match.start(), score))
    return found


def _dedupe(candidates: list[Candidate]) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for cand in candidates:
        key = normalise(cand.value)
        if key and (key not in best or cand.score > best[key].score):
            best[key] = cand
    return list(best.values())


def find_candidates(text: str, kind: Kind, *, limit: int = 8) -> list[Candidate]:
    """Spans of ``text`` that could fill a field of ``kind``, best first, at most ``limit``."""
    if kind == "date":
        found = [Candidate(c.value, c.start, 1.0 if parse_date(c.value) else 0.0) for c in _matches(_DATE_RE, text)]
        # the first date on a document is usually its date
        found = [Candidate(c.value, c.start, c.score - 0.001 * i) for i, c in enumerate(found)]
    elif kind == "money":
        found = _money_candidates(text)
    elif kind == "number":
        found = [Candidate(c.value, c.start, 0.0) for c in _matches(_NUMBER_RE, text)]
    elif kind == "email":
        found = _matches(_EMAIL_RE, text)
    elif kind == "phone":
        found = [c for c in _matches(_PHONE_RE, text) if sum(ch.isdigit() for ch in c.value) >= 7]
    elif kind == "id":
        found = [Candidate(c.value, c.start, 0.0) for c in _matches(_ID_RE, text) if not _DATE_RE.fullmatch(c.value)]
    elif kind == "company":
        found = _company_candidates(text)
    elif kind == "address":
        found = _address_candidates(text)
    elif kind == "product":
        found = _product_candidates(text)
    elif kind == "name":
        found = [*_matches(_NAME_RE, text), *_line_candidates(text)[:5]]
        found = [Candidate(c.value, c.start, 1.0 if _NAME_RE.fullmatch(c.value) else -0.5) for c in found]
    else:
        found = _line_candidates(text)
    ranked = sorted(_dedupe(found), key=lambda c: (-c.score, c.start))
    return ranked[:limit]


def valid_for_kind(value: Any, kind: Kind) -> bool:
    """Whether ``value`` has the shape its kind needs (dates parse, amounts are numbers, ...)."""
    if value is None:
        return True
    if kind == "date":
        return parse_date(str(value)) is not None
    if kind in ("money", "number"):
        return parse_amount(value) is not None
    if kind == "email":
        return _EMAIL_RE.fullmatch(str(value).strip()) is not None
    if kind == "phone":
        return sum(ch.isdigit() for ch in str(value)) >= 7
    return bool(str(value).strip())


# -- log-likelihood choice ------------------------------------------------------


async def choose(model: Any, prompt: str, options: Sequence[str]) -> dict[str, float] | None:
    """Probabilities over ``options`` from the model's own scoring, or None if it cannot score.

    Uses the backend's ``score(prompt, options)`` (log-likelihood per option) when it has one
    next to ``choose``, else ``choose(prompt, options)``; either may be sync or async and may
    return a mapping option -> probability or log-likelihood, a list aligned with ``options``,
    or an ``(option, probability)`` pair.
    """
    chooser = getattr(model, "choose", None)
    if chooser is None or not callable(chooser) or not options:
        return None
    scorer = getattr(model, "score", None)
    method = scorer if callable(scorer) else chooser
    result = method(prompt, list(options))
    if inspect.isawaitable(result):
        result = await result
    return _as_distribution(result, list(options))


def _as_distribution(result: Any, options: list[str]) -> dict[str, float] | None:
    if isinstance(result, Mapping):
        scores = [float(result.get(o, float("-inf"))) for o in options]
    elif isinstance(result, tuple) and len(result) == 2 and not isinstance(result[1], Sequence):
        chosen, prob = result
        chosen = options[chosen] if isinstance(chosen, int) else str(chosen)
        prob = min(1.0, max(0.0, float(prob)))
        rest = (1.0 - prob) / max(1, len(options) - 1)
        return {o: (prob if o == chosen else rest) for o in options}
    elif isinstance(result, Sequence) and len(result) == len(options):
        scores = [float(s) for s in result]
    else:
        return None
    if all(0.0 <= s <= 1.0 for s in scores) and abs(sum(scores) - 1.0) < 1e-3:
        return dict(zip(options, scores, strict=True))
    return dict(zip(options, softmax(scores), strict=True))  # log-likelihoods


def softmax(scores: Sequence[float], temperature: float = 1.0) -> list[float]:
    """A numerically stable softmax."""
    finite = [s for s in scores if math.isfinite(s)]
    if not finite:
        return [1.0 / len(scores)] * len(scores) if scores else []
    top = max(finite)
    exps = [math.exp((s - top) / temperature) if math.isfinite(s) else 0.0 for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


# -- sentences and extractive selection ------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_SPEAKER = re.compile(r"^[\w .'\-]{1,40}:\s")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, verbatim; each dialogue line (``Name: ...``) and bullet is one."""
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        line_based = (
            len(lines) > 1 and sum(bool(_SPEAKER.match(ln) or ln[:1] in "-*•") for ln in lines) >= len(lines) / 2
        )
        if line_based:
            sentences.extend(lines)
            continue
        for line in lines if len(lines) > 1 and all(len(ln) < 80 for ln in lines) else [" ".join(lines)]:
            sentences.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return sentences


def word_count(text: str) -> int:
    return len(text.split())


def bag_of_words(texts: Sequence[str], dims: int = 512) -> list[list[float]]:
    """A local hashing bag-of-words embedding, for selection when the model cannot embed."""
    out: list[list[float]] = []
    for text in texts:
        vec = [0.0] * dims
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "little") % dims] += 1.0
        out.append(vec)
    return out


def _unit(matrix: Vector) -> Vector:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(matrix / norms, dtype=np.float64)


def select_sentences(
    sentence_vectors: Sequence[Sequence[float]],
    document_vector: Sequence[float] | None,
    lengths: Sequence[int],
    max_words: int,
    *,
    diversity: float = 0.3,
    lead_bias: float = 0.05,
    max_sentences: int | None = None,
) -> list[int]:
    """Indices (in document order) of central, non-redundant sentences within ``max_words``.

    Relevance is the cosine to the document (centroid of the sentences plus the whole-text
    vector); maximal marginal relevance with weight ``diversity`` avoids picking near-duplicates.
    """
    if not sentence_vectors:
        return []
    vectors = _unit(np.asarray(sentence_vectors, dtype=np.float64))
    centroid = vectors.mean(axis=0)
    if document_vector is not None:
        centroid = centroid + _unit(np.asarray(document_vector, dtype=np.float64))
    norm = float(np.linalg.norm(centroid))
    centroid = centroid / norm if norm else centroid
    relevance = vectors @ centroid
    relevance = relevance - lead_bias * np.arange(len(vectors)) / max(1, len(vectors))
    similarity = vectors @ vectors.T
    chosen: list[int] = []
    used = 0
    remaining = set(range(len(vectors)))
    while remaining and (max_sentences is None or len(chosen) < max_sentences):

        def mmr(i: int) -> float:
            redundancy = max((float(similarity[i, j]) for j in chosen), default=0.0)
            return (1 - diversity) * float(relevance[i]) - diversity * redundancy

        fitting = [i for i in remaining if used + lengths[i] <= max_words]
        if not fitting:
            break
        best = max(fitting, key=mmr)
        chosen.append(best)
        used += lengths[best]
        remaining.discard(best)
    if not chosen:  # no sentence fits: the most central one, cut to the budget by the caller
        chosen = [int(np.argmax(relevance))]
    return sorted(chosen)


__all__ = [
    "Candidate",
    "Kind",
    "bag_of_words",
    "choose",
    "find_candidates",
    "infer_kind",
    "normalise",
    "occurs_in",
    "parse_amount",
    "parse_date",
    "select_sentences",
    "softmax",
    "split_sentences",
    "valid_for_kind",
    "word_count",
]
