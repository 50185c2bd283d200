"""Grounding helpers shared by the specialists: occurrence, parsing, sentences, extractive selection.

Small models copy values from the prompt's examples or invent them. These
helpers keep answers tied to the input: :func:`occurs_in` checks a value
appears in the text; :func:`split_sentences`, :func:`is_heading` and
:func:`select_sentences` pick a faithful extractive summary; :func:`choose`
turns a scoring model's log-likelihoods (``Capabilities.scoring``, e.g. llama.cpp)
into probabilities. Candidate spans for fields live in :mod:`orchestrator.agents._candidates`.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from orchestrator._optional import lazy_module
from orchestrator.models.base import Model, scoring_model

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vector = npt.NDArray[np.float64]
else:
    np = lazy_module("numpy", extra="embeddings", needed_for="choosing sentences (extractive summaries)")

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
    if "," in cleaned and "." in cleaned:  # the last separator is the decimal one: 1,234.50 or 1.234,50
        decimal = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        cleaned = cleaned.replace("." if decimal == "," else ",", "").replace(",", ".")
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


_COMMA_DECIMAL = re.compile(r"(?<![\w.,])-?\d{1,3}(?:\.\d{3})*,\d{2}(?!\w|[.,]\d)")


def _amounts_in(text: str) -> list[float]:
    found: list[float] = []
    for match in [*_NUMBER.finditer(text), *_COMMA_DECIMAL.finditer(text)]:
        amount = parse_amount(match.group())
        if amount is not None:
            found.append(amount)
    return found


# -- log-likelihood choice ------------------------------------------------------


async def choose(model: Model, prompt: str, options: Sequence[str]) -> dict[str, float] | None:
    """Probabilities over ``options`` from the model's log-likelihood scoring
    (:class:`~orchestrator.models.base.ScoringModel`), or None if it cannot score."""
    scorer = scoring_model(model)
    if scorer is None or not options:
        return None
    return _as_distribution(await scorer.score(prompt, list(options)), list(options))


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
RULE_BASED_MAX_CHARS = 50_000
"""Texts up to this long are split where punctuation ends a sentence *and* pysbd's rules agree
(abbreviations, initials, times: "Dr. Smith arrived at 5 p.m. on Jan. 3." stays one sentence);
a longer one (a log, a dump) at punctuation alone: pysbd takes about 20 ms per 1,000 characters."""
_SEGMENTER: Any = None


def _rule_based(line: str) -> list[str]:
    """``line`` cut at the punctuation boundaries pysbd (English rules) also sees (its boundary lies
    in the closing quotes and spaces after the stop); closing quotes stay with their sentence.
    pysbd alone mishandles quotes (a lone '"' as a sentence)."""
    global _SEGMENTER
    if _SEGMENTER is None:
        import pysbd

        _SEGMENTER = pysbd.Segmenter(language="en", clean=False)
    ends, offset = [], 0
    for segment in _SEGMENTER.segment(line):
        offset += len(segment)
        ends.append(offset)
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(line):
        if any(match.start() <= end <= match.end() for end in ends):
            cut = match.start() + len(match.group().rstrip()) if match.group().strip() else match.start()
            parts.append(line[start:cut])
            start = match.end()
    parts.append(line[start:])
    return parts


def _by_punctuation(line: str) -> list[str]:
    return _SENTENCE_END.split(line)


_CACHED_MAX_CHARS = 4_000
"""Texts up to this long keep their split (the steps of one run split the same ticket)."""


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``, verbatim; each dialogue line (``Name: ...``) and bullet is one.
    Prose is split by pysbd's rules (up to :data:`RULE_BASED_MAX_CHARS`, else at punctuation).
    A short text's split is remembered (4,096 texts, least recently used out first)."""
    return list(_split_cached(text)) if len(text) <= _CACHED_MAX_CHARS else _split(text)


@functools.lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[str, ...]:
    return tuple(_split(text))


def _split(text: str) -> list[str]:
    segment = _rule_based if len(text) <= RULE_BASED_MAX_CHARS else _by_punctuation
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        wrapped = any(ln[:1].islower() for ln in lines[1:])  # hard-wrapped prose, not one item per line
        line_based = (
            len(lines) > 1
            and not wrapped
            and sum(bool(_SPEAKER.match(ln) or ln[:1] in "-*•") for ln in lines) >= len(lines) / 2
        )
        if line_based:
            sentences.extend(lines)
            continue
        for line in lines if len(lines) > 1 and all(len(ln) < 80 for ln in lines) else [" ".join(lines)]:
            parts = [part.strip() for part in segment(line) if part.strip()]
            sentences.extend(_join_enumerators(parts))
    return sentences


_ENUMERATOR = re.compile(r"^(?:\(?\d{1,3}(?:\.\d{1,3})*[.)]?|\(?[ivxIVX]{1,5}[.)]|\(?[a-zA-Z][.)])$")


def _join_enumerators(parts: list[str]) -> list[str]:
    """``["1.", "Ticket volume"]`` -> ``["1. Ticket volume"]``: a number is not a sentence of its own."""
    joined: list[str] = []
    for part in parts:
        if joined and _ENUMERATOR.match(joined[-1]):
            joined[-1] = f"{joined[-1]} {part}"
        else:
            joined.append(part)
    return joined


_HEADING_WORDS = 12
_CLOSING_MARKS = "\"')]\u201d\u2019\u00bb"


def is_heading(sentence: str) -> bool:
    """Whether a line is a heading or a fragment rather than a sentence: a bare number (``2.``), or a
    short line without sentence punctuation (``Summary``, ``1. Ticket volume and mix``, a signature).
    Bullets and ``Label: text`` lines (dialogue, ``Subject: ...``) are not headings."""
    text = sentence.strip()
    if not text or _ENUMERATOR.match(text):
        return True
    if text[:1] in "-*•" or _SPEAKER.match(text):
        return False
    return text.rstrip(_CLOSING_MARKS)[-1:] not in ".!?…" and word_count(text) <= _HEADING_WORDS


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
    "bag_of_words",
    "choose",
    "is_heading",
    "normalise",
    "occurs_in",
    "parse_amount",
    "parse_date",
    "select_sentences",
    "softmax",
    "split_sentences",
    "word_count",
]
