"""Scoring one answer against its expected value: normalised or exact match, ROUGE, percentiles.

Normalised match is what extracted fields and labels need: case, surrounding whitespace and
punctuation, inner runs of spaces and number formatting (``12.50`` = ``12.5``) do not count, and
an empty expected value matches a missing answer (None, ``""``, ``null``). ROUGE-1, ROUGE-2 and
ROUGE-L (Lin, 2004) F-measures over lower-cased word tokens score summaries; ``rouge`` returns
all three and an answer "passes" when its ROUGE-L F-measure reaches :data:`ROUGE_PASS`.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ROUGE_PASS = 0.5
"""The ROUGE-L F-measure at which a summary counts as right, for accuracy and calibration."""

_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"[^\W_]+", re.UNICODE)
_EDGES = string.punctuation + string.whitespace
_EMPTY = {"", "null", "none"}


def normalise(value: Any) -> str:
    """A canonical text for comparison: lower case, single spaces, no edge punctuation, numbers as numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return _number(float(value))
    if isinstance(value, dict | list):
        return json.dumps(_normalised_tree(value), sort_keys=True, ensure_ascii=False)
    text = _SPACES.sub(" ", str(value)).strip(_EDGES).casefold()
    if text in _EMPTY:
        return ""
    try:
        number = float(text.replace(",", "")) if re.fullmatch(r"[-+]?[\d,]*\.?\d+", text) else None
    except ValueError:
        number = None
    return _number(number) if number is not None else text


def _number(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)


def _normalised_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _normalised_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised_tree(v) for v in value]
    return normalise(value)


def matches(predicted: Any, expected: Any, *, exact: bool = False) -> bool:
    """Whether ``predicted`` is ``expected``: normalised match, or with ``exact`` equal as JSON values."""
    if exact:
        return bool(predicted == expected) or (isinstance(expected, str) and str(predicted) == expected
                                               and predicted is not None)
    return normalise(predicted) == normalise(expected)


@dataclass(frozen=True, slots=True)
class Rouge:
    """ROUGE F-measures of one summary against one reference."""

    rouge1: float
    rouge2: float
    rougeL: float


def tokens(text: Any) -> list[str]:
    """Lower-cased word tokens (letters and digits) of ``text``."""
    return _TOKENS.findall("" if text is None else str(text).casefold())


def rouge(predicted: Any, reference: Any) -> Rouge:
    """ROUGE-1, ROUGE-2 and ROUGE-L F-measures of ``predicted`` against ``reference`` (0 when either is empty)."""
    got, want = tokens(predicted), tokens(reference)
    return Rouge(_overlap_f(got, want, 1), _overlap_f(got, want, 2), _f(_lcs(got, want), len(got), len(want)))


def _overlap_f(got: list[str], want: list[str], n: int) -> float:
    grams_got = Counter(tuple(got[i:i + n]) for i in range(len(got) - n + 1))
    grams_want = Counter(tuple(want[i:i + n]) for i in range(len(want) - n + 1))
    return _f(sum((grams_got & grams_want).values()), sum(grams_got.values()), sum(grams_want.values()))


def _f(overlap: int, predicted: int, reference: int) -> float:
    if not overlap or not predicted or not reference:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (two-row dynamic programme)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (0.0 for no values)."""
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not in [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


__all__ = ["ROUGE_PASS", "Rouge", "matches", "normalise", "percentile", "rouge", "tokens"]
