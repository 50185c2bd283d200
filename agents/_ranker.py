"""The span ranker: a model fitted on labelled documents that ranks a field's candidate spans.

Per field, a linear scorer over :func:`~orchestrator.agents._span_features.span_features`
gives each candidate span a score; a softmax over a document's candidates is fitted
(listwise, AdaGrad, L2) so the labelled value's span comes first. The top span's
probability is then calibrated (Platt scaling on documents held out of the fit), so
:meth:`SpanRanker.rank`'s ``confidence`` reads as "how often a top span this sure is
right" and a low one can escalate. Pure Python (sparse features, a few milliseconds a
document); saved as versioned JSON, never pickled::

    ranker = SpanRanker.fit(examples, kinds={"total": "money", "date": "date"})
    ranker.save("rankers/receipts.json")
    ranked = SpanRanker.load("rankers/receipts.json").rank(text, "total", "money")
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, ValidationError

from orchestrator.agents._candidates import Kind, infer_kind
from orchestrator.agents._span_features import (
    MULTI_LINE_KINDS,
    Document,
    Span,
    candidate_pool,
    same_value,
    span_features,
    token_f1,
)
from orchestrator.datasets import jsonl_rows
from orchestrator.errors import ConfigError, InputError

FORMAT = "slm-orchestrator/span-ranker"
VERSION = 1
_KINDS = frozenset(get_args(Kind))


class LabelledDocument(BaseModel):
    """One training example: a document's text and the value of each field in it (null: absent)."""

    text: str
    fields: dict[str, Any]


class FieldModel(BaseModel):
    """One field's fitted scorer and its calibration."""

    kind: str
    weights: dict[str, float]
    calibration: tuple[float, float] = (1.0, 0.0)
    """Platt scaling ``(a, b)``: confidence = sigmoid(a * logit(p_top) + b)."""
    documents: int = 0
    """Training documents whose labelled value was among the candidates."""
    coverage: float = 0.0
    """Share of labelled documents the field learned from: their value was among the candidates
    (or, with :attr:`FitOptions.partial_credit`, a span held most of it)."""


class RankerFile(BaseModel):
    """The saved ranker: plain JSON, versioned."""

    format: str = FORMAT
    version: int = VERSION
    fields: dict[str, FieldModel] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RankedSpan:
    """A candidate with its probability among the document's candidates for the field."""

    value: str
    probability: float


@dataclass(frozen=True, slots=True)
class Ranking:
    """A field's candidates, best first, and how sure the ranker is of the first."""

    spans: list[RankedSpan]
    confidence: float
    """Calibrated: the estimated chance the first span is the right value (0 with no spans)."""


@dataclass(frozen=True, slots=True)
class FitOptions:
    """How a ranker is fitted."""

    epochs: int = 12
    learning_rate: float = 0.3
    l2: float = 1e-4
    holdout: float = 0.2
    """Share of documents held out of a first fit to calibrate the confidence on."""
    seed: int = 0
    partial_credit: float | None = 0.6
    """For kinds written over several lines, a document whose labelled value no span equals still
    teaches: the spans with the best word F1 against it (at least this much) are its targets.
    None: exact matches only."""


_Group = tuple[list[dict[str, float]], list[bool]]


class SpanRanker:
    """Ranks candidate spans per field with weights fitted on labelled documents."""

    def __init__(self, fields: Mapping[str, FieldModel]) -> None:
        self.fields = dict(fields)

    # -- fitting ---------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        examples: Sequence[LabelledDocument],
        *,
        kinds: Mapping[str, Kind] | None = None,
        hints: Mapping[str, str] | None = None,
        options: FitOptions | None = None,
    ) -> SpanRanker:
        """A ranker for every field labelled in ``examples`` (kinds inferred from field names
        unless given; ``hints`` are the fields' descriptions)."""
        opts = options or FitOptions()
        if not examples:
            raise InputError("a span ranker needs at least one labelled document")
        names = sorted({name for ex in examples for name in ex.fields})
        docs = [Document(ex.text) for ex in examples]
        fitted: dict[str, FieldModel] = {}
        for name in names:
            kind = (kinds or {}).get(name) or infer_kind(name, {})
            hint = f"{name} {(hints or {}).get(name, '')}"
            labelled = [(doc, ex.fields[name]) for doc, ex in zip(docs, examples, strict=True)
                        if ex.fields.get(name) not in (None, "")]
            groups = [g for doc, gold in labelled
                      if (g := _group(doc, kind, hint, gold, opts.partial_credit)) is not None]
            if not groups:
                continue
            fitted[name] = _fit_field(kind, groups, len(labelled), opts)
        if not fitted:
            raise InputError("no labelled value was found among the candidate spans of any field")
        return cls(fitted)

    # -- using -----------------------------------------------------------------------------

    def model_for(self, field: str, kind: Kind) -> FieldModel | None:
        """The fitted model for ``field``, else one fitted for another field of the same kind."""
        if field in self.fields:
            return self.fields[field]
        return next((m for m in self.fields.values() if m.kind == kind), None)

    def rank(self, text: str, field: str, kind: Kind, *, hint: str = "", document: Document | None = None) -> Ranking:
        """``field``'s candidate spans in ``text``, best first, with the calibrated confidence of
        the first; an InputError when the ranker has no model for the field or its kind."""
        model = self.model_for(field, kind)
        if model is None:
            raise InputError(f"the span ranker has no model for field {field!r} (kind {kind})")
        doc = document or Document(text)
        words = _hint_words(f"{field} {hint}")
        spans = candidate_pool(doc, kind, hint)
        if not spans:
            return Ranking([], 0.0)
        scores = [_score(model.weights, span_features(doc, s, kind, words)) for s in spans]
        probs = _softmax(scores)
        order = sorted(range(len(spans)), key=lambda i: -probs[i])
        ranked = [RankedSpan(spans[i].value, probs[i]) for i in order]
        a, b = model.calibration
        return Ranking(ranked, _sigmoid(a * _logit(ranked[0].probability) + b))

    # -- saving ----------------------------------------------------------------------------

    def to_file(self) -> RankerFile:
        return RankerFile(fields=self.fields)

    def save(self, path: str | Path) -> None:
        """Write the ranker as JSON (``format``, ``version``, per-field weights and calibration)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_file().model_dump_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> SpanRanker:
        """A ranker saved by :meth:`save`; a ConfigError names the file when it is missing or not one."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the span ranker {str(path)!r}: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ConfigError(f"{str(path)!r} is not a span ranker (format {FORMAT!r})")
        if raw.get("version") != VERSION:
            raise ConfigError(f"span ranker {str(path)!r} has version {raw.get('version')!r}; this build reads "
                              f"version {VERSION} (train it again)")
        try:
            saved = RankerFile.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"span ranker {str(path)!r} is damaged: {exc.errors()[0]['msg']}") from exc
        unknown = {m.kind for m in saved.fields.values()} - _KINDS
        if unknown:
            raise ConfigError(f"span ranker {str(path)!r} names unknown kinds {sorted(unknown)}")
        return cls(saved.fields)


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> SpanRanker:
    return SpanRanker.load(path)


def load_ranker(path: str | Path) -> SpanRanker:
    """The ranker at ``path``, read once per version of the file."""
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read the span ranker {str(path)!r}: {exc}") from exc
    return _cached(str(path), mtime)


def read_labelled(path: str | Path, *, fields_key: str | None = None) -> list[LabelledDocument]:
    """Labelled documents from a JSONL file of ``{"text": ..., "fields": {...}}`` (``entities`` is
    read too, as SROIE writes it); an InputError names the first bad line."""
    examples: list[LabelledDocument] = []
    try:
        for number, row in jsonl_rows(path, holding=' like {"text": ..., "fields": {...}}'):
            try:
                key = fields_key or next((k for k in ("fields", "entities", "data") if k in row), "fields")
                examples.append(LabelledDocument(text=row["text"], fields=row[key]))
            except (KeyError, TypeError, ValidationError) as exc:
                raise InputError(f"{path}:{number}: not a labelled document ({exc})") from exc
    except OSError as exc:
        raise InputError(f"cannot read the labelled documents {str(path)!r}: {exc}") from exc
    return examples


# -- the fit ---------------------------------------------------------------------------------


def _hint_words(hint: str) -> frozenset[str]:
    return frozenset(w for w in "".join(c if c.isalpha() else " " for c in hint.lower()).split() if len(w) > 2)


def _group(doc: Document, kind: Kind, hint: str, gold: Any, partial_credit: float | None) -> _Group | None:
    spans: list[Span] = candidate_pool(doc, kind, hint)
    targets = [same_value(s.value, gold, kind) for s in spans]
    if not any(targets) and partial_credit is not None and kind in MULTI_LINE_KINDS and spans:
        overlaps = [token_f1(s.value, gold) for s in spans]
        best = max(overlaps)
        targets = [best >= partial_credit and overlap == best for overlap in overlaps]
    if not any(targets):
        return None
    words = _hint_words(hint)
    return [span_features(doc, s, kind, words) for s in spans], targets


def _fit_field(kind: Kind, groups: list[_Group], labelled: int, opts: FitOptions) -> FieldModel:
    shuffled = list(groups)
    random.Random(opts.seed).shuffle(shuffled)
    held = int(len(shuffled) * opts.holdout) if len(shuffled) >= 10 else 0
    calibration = (1.0, 0.0)
    if held:
        first = _train(shuffled[held:], opts)
        calibration = _platt([_top(first, g) for g in shuffled[:held]])
    weights = _train(shuffled, opts)
    return FieldModel(kind=kind, weights={k: round(v, 5) for k, v in weights.items() if abs(v) > 1e-5},
                      calibration=calibration, documents=len(groups), coverage=round(len(groups) / labelled, 4))


def _train(groups: list[_Group], opts: FitOptions) -> dict[str, float]:
    """Listwise softmax regression: each document's labelled spans share the target probability."""
    weights: dict[str, float] = {}
    squares: dict[str, float] = {}
    order = list(range(len(groups)))
    rng = random.Random(opts.seed)
    for _ in range(opts.epochs):
        rng.shuffle(order)
        for index in order:
            feats, targets = groups[index]
            probs = _softmax([_score(weights, f) for f in feats])
            share = 1.0 / sum(targets)
            gradient: dict[str, float] = {}
            for f, p, t in zip(feats, probs, targets, strict=True):
                delta = p - (share if t else 0.0)
                if abs(delta) < 1e-6:
                    continue
                for name, value in f.items():
                    gradient[name] = gradient.get(name, 0.0) + delta * value
            for name, g in gradient.items():
                w = weights.get(name, 0.0)
                g += opts.l2 * w
                squares[name] = squares.get(name, 0.0) + g * g
                weights[name] = w - opts.learning_rate * g / math.sqrt(squares[name] + 1e-8)
    return weights


def _top(weights: dict[str, float], group: _Group) -> tuple[float, bool]:
    feats, targets = group
    probs = _softmax([_score(weights, f) for f in feats])
    best = max(range(len(probs)), key=probs.__getitem__)
    return probs[best], targets[best]


def _platt(points: Iterable[tuple[float, bool]], steps: int = 300) -> tuple[float, float]:
    """``(a, b)`` fitting ``P(right | p) = sigmoid(a * logit(p) + b)`` by gradient descent on log loss."""
    data = [(_logit(p), 1.0 if right else 0.0) for p, right in points]
    if not data or all(y == data[0][1] for _, y in data):
        return 1.0, 0.0
    a, b = 1.0, 0.0
    for _ in range(steps):
        ga = gb = 0.0
        for x, y in data:
            err = _sigmoid(a * x + b) - y
            ga += err * x
            gb += err
        a -= 0.5 * ga / len(data)
        b -= 0.5 * gb / len(data)
    return round(a, 5), round(b, 5)


def _score(weights: Mapping[str, float], feats: Mapping[str, float]) -> float:
    return sum(weights.get(name, 0.0) * value for name, value in feats.items())


def _softmax(scores: Sequence[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


__all__ = [
    "FORMAT",
    "VERSION",
    "FieldModel",
    "FitOptions",
    "LabelledDocument",
    "RankedSpan",
    "RankerFile",
    "Ranking",
    "SpanRanker",
    "load_ranker",
    "read_labelled",
]
