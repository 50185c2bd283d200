"""The classifier's learner: fits its embedding head on collected ``{text} -> {label}`` examples.

Distillation (:mod:`orchestrator.learning.distill`) drives it through the
:class:`~orchestrator.learner.Learner` protocol; the artefact is the head's JSON, written to
the classifier's ``options.head_path``, from which a running classifier reloads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator._optional import lazy_module
from orchestrator.agents._head import EmbeddingHead
from orchestrator.learner import Pair
from orchestrator.models.base import Model

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", extra="embeddings", needed_for="fitting a classifier head")


_BATCH = 64


class HeadLearner:
    """Fits an :class:`EmbeddingHead` with ``model``'s embeddings (a local embedding model).

    The defaults are the student that answered the most Banking77 test items locally at 95%
    accuracy in ``bench/flywheel.py`` (10 examples per intent): logistic regression with
    ``C = 30`` mixed half and half with the nearest-neighbour vote. Read its confidence as the
    margin (``options = { confidence = "margin" }``) for the most local answers among known
    intents, as the top probability (the default) when out-of-scope texts must escalate.
    """

    kind = "embedding-head"

    def __init__(self, model: Model, live_path: str | Path | None, *, regularization: float = 3.0,
                 knn_weight: float = 0.5, knn_temperature: float = 0.05) -> None:
        self.model = model
        self._live_path = Path(live_path) if live_path else None
        self.regularization = regularization
        self.knn_weight = knn_weight
        self.knn_temperature = knn_temperature

    @property
    def live_path(self) -> Path | None:
        return self._live_path

    def usable(self, pair: Pair) -> bool:
        data, output = pair
        return isinstance(data.get("text"), str) and isinstance(output.get("label"), str) and bool(output["label"])

    async def fit(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        texts = [str(data["text"]) for data, _ in pairs]
        labels = [str(output["label"]) for _, output in pairs]
        vectors = await self._embed(texts)
        # the fit is CPU-bound: off the event loop, so a worker keeps serving steps meanwhile
        head = await asyncio.to_thread(EmbeddingHead.fit_vectors, np.asarray(vectors, dtype=np.float64), labels,
                                       embedder=self.model.ref, regularization=self.regularization,
                                       knn_weight=self.knn_weight, knn_temperature=self.knn_temperature)
        return head.to_dict()

    async def _embed(self, texts: Sequence[str]) -> list[list[float]]:
        """In batches: one call per batch keeps each under the model's timeout."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            vectors += await self.model.embed(list(texts[start : start + _BATCH]))
        return vectors

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        if not pairs:
            return []
        head = EmbeddingHead.from_dict(artefact)
        probs = head.predict_proba(await self._embed([str(data["text"]) for data, _ in pairs]))
        return [(float(row.max()), head.labels[int(row.argmax())] == output["label"])
                for row, (_, output) in zip(probs, pairs, strict=True)]

__all__ = ["HeadLearner"]
