"""The extractor's learner: fits its span ranker on collected ``{text, fields} -> {data}`` examples.

Distillation (:mod:`orchestrator.learning.distill`) drives it through the
:class:`~orchestrator.learner.Learner` protocol, as it drives the classifier's head: examples in
the store (a larger model's answers after an escalation, people's corrections) become labelled
documents, a :class:`~orchestrator.agents._ranker.SpanRanker` is fitted on them (each field's
kind and hint read from the request's own schema), and the promoted ranker is written to the
extractor's ``options.ranker_path``, which a running extractor reloads when the file changes.
A document is judged right when every labelled field's first span means the labelled value, with
the least sure field's calibrated confidence as the document's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from orchestrator.agents._candidates import Kind
from orchestrator.agents._ranker import FitOptions, LabelledDocument, RankerFile, SpanRanker
from orchestrator.agents._span_features import Document, same_value
from orchestrator.agents.extractor import ExtractorInput, FieldSpec, field_specs
from orchestrator.errors import InputError
from orchestrator.learner import Pair


class RankerLearner:
    """Fits a :class:`SpanRanker` for the fields the examples label (pure Python, no model needed)."""

    kind = "span-ranker"

    def __init__(self, live_path: str | Path | None, *, options: FitOptions | None = None) -> None:
        self._live_path = Path(live_path) if live_path else None
        self.options = options or FitOptions()

    @property
    def live_path(self) -> Path | None:
        return self._live_path

    def usable(self, pair: Pair) -> bool:
        data, output = pair
        labelled = output.get("data")
        if not isinstance(data.get("text"), str) or not isinstance(labelled, dict):
            return False
        specs = _specs(data)
        return specs is not None and any(labelled.get(s.name) not in (None, "") for s in specs)

    async def fit(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        documents, kinds, hints = _labelled(pairs)
        if not documents:
            raise InputError("no example labels a field the span ranker can learn (text spans, not categories)")
        # the fit is CPU-bound pure Python: off the event loop, so a worker keeps serving steps meanwhile
        ranker = await asyncio.to_thread(SpanRanker.fit, documents, kinds=kinds, hints=hints, options=self.options)
        return ranker.to_file().model_dump(mode="json")

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        try:
            ranker = SpanRanker(RankerFile.model_validate(artefact).fields)
        except ValidationError as exc:
            raise InputError(f"not a span ranker: {exc.errors()[0]['msg']}") from exc
        return [_judged(ranker, data, output) for data, output in pairs]


def _specs(data: dict[str, Any]) -> list[FieldSpec] | None:
    """The span fields of a request (categorical ones are chosen, not ranked); None when invalid."""
    try:
        specs = field_specs(ExtractorInput.model_validate(data))
    except (ValidationError, InputError):
        return None
    return [s for s in specs if not s.categorical]


def _labelled(pairs: Sequence[Pair]) -> tuple[list[LabelledDocument], dict[str, Kind], dict[str, str]]:
    documents: list[LabelledDocument] = []
    kinds: dict[str, Kind] = {}
    hints: dict[str, str] = {}
    for data, output in pairs:
        specs = _specs(data) or []
        labelled = output.get("data") or {}
        fields = {s.name: labelled[s.name] for s in specs if labelled.get(s.name) not in (None, "")}
        if not fields:
            continue
        for spec in specs:
            kinds.setdefault(spec.name, spec.kind)
            hints.setdefault(spec.name, str(spec.schema.get("description", "")))
        documents.append(LabelledDocument(text=str(data["text"]), fields=fields))
    return documents, kinds, hints


def _judged(ranker: SpanRanker, data: dict[str, Any], output: dict[str, Any]) -> tuple[float, bool]:
    labelled = output.get("data") or {}
    specs = [s for s in _specs(data) or [] if labelled.get(s.name) not in (None, "")
             and ranker.model_for(s.name, s.kind) is not None]
    if not specs:
        return 0.0, False
    document = Document(str(data["text"]))
    confidence, right = 1.0, True
    for spec in specs:
        hint = f"{spec.name} {spec.schema.get('description', '')}"  # as the extractor asks
        ranking = ranker.rank(document.text, spec.name, spec.kind, hint=hint, document=document)
        first = ranking.spans[0].value if ranking.spans else None
        confidence = min(confidence, ranking.confidence)
        right = right and same_value(first, labelled[spec.name], spec.kind)
    return confidence, right


__all__ = ["RankerLearner"]
