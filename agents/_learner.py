"""The classifier's learner: fits its embedding head on collected ``{text} -> {label}`` examples.

Distillation (:mod:`orchestrator.learning.distill`) drives it through the
:class:`~orchestrator.learner.Learner` protocol; the artefact is the head's JSON, written to
the classifier's ``options.head_path``, from which a running classifier reloads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.agents._head import EmbeddingHead
from orchestrator.learner import Pair
from orchestrator.models.base import Model


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
                 knn_weight: float = 0.5) -> None:
        self.model = model
        self._live_path = Path(live_path) if live_path else None
        self.regularization = regularization
        self.knn_weight = knn_weight

    @property
    def live_path(self) -> Path | None:
        return self._live_path

    def usable(self, pair: Pair) -> bool:
        data, output = pair
        return isinstance(data.get("text"), str) and isinstance(output.get("label"), str) and bool(output["label"])

    async def fit(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        texts = [str(data["text"]) for data, _ in pairs]
        labels = [str(output["label"]) for _, output in pairs]
        head = await EmbeddingHead.fit(texts, labels, self.model.embed, embedder=self.model.ref,
                                       regularization=self.regularization, knn_weight=self.knn_weight)
        return head.to_dict()

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        if not pairs:
            return []
        head = EmbeddingHead.from_dict(artefact)
        probs = head.predict_proba(await self.model.embed([str(data["text"]) for data, _ in pairs]))
        return [(float(row.max()), head.labels[int(row.argmax())] == output["label"])
                for row, (_, output) in zip(probs, pairs, strict=True)]

__all__ = ["HeadLearner"]
