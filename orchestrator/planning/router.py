"""The first planning tier: match a free-form request to a shipped workflow, locally.

Each workflow is known by its description, its example requests and its inputs' descriptions.
A request scores against each workflow by two kinds of evidence:

- **semantic**: the best cosine between the request's embedding and those texts' (the local
  embedder, all-MiniLM-L6-v2 on the embedded default; any model with ``embed``);
- **lexical**: the share of the request's keywords (:func:`~orchestrator.planning.keywords.keywords`)
  the workflow's texts know, with every unknown *intent* word (another output or document type,
  e.g. "translate" against ticket triage) halving the score.

``score = semantic * (0.5 + 0.5 * coverage) * 0.5 ** unknown_intents``. The workflow scoring
highest runs when its score reaches the threshold, which is calibrated on labelled requests
(``bench/planning.py`` prints the value :func:`calibrate` finds on its corpus), not guessed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from orchestrator.calibration import threshold_for
from orchestrator.planning.keywords import INTENT_TERMS, keywords
from orchestrator.workflow import Workflow

__all__ = ["Candidate", "Embedder", "Route", "WorkflowRouter", "calibrate", "workflow_texts"]


class Embedder(Protocol):
    """Anything that embeds texts into L2-normalised vectors (a model with ``embed``)."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass(frozen=True, slots=True)
class Candidate:
    """One workflow's score for a request, with its evidence."""

    workflow: str
    score: float
    semantic: float
    coverage: float
    unknown_intents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """The router's verdict: the chosen workflow (None below the threshold) and every candidate."""

    workflow: str | None
    threshold: float
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def closest(self, n: int = 3) -> str:
        """``"ticket_triage (0.41), document_digest (0.22)"``: the best ``n`` candidates."""
        return ", ".join(f"{c.workflow} ({c.score:.2f})" for c in self.candidates[:n]) or "no workflows"


def workflow_texts(workflow: Workflow) -> list[str]:
    """What a workflow is matched by: its description and example requests."""
    return [t for t in (workflow.description, *workflow.examples) if t.strip()]


def _vocabulary(workflow: Workflow) -> frozenset[str]:
    texts = [*workflow_texts(workflow), workflow.name.replace("_", " ")]
    texts += [f"{name.replace('_', ' ')} {spec.description}" for name, spec in workflow.inputs.items()]
    return frozenset().union(*(keywords(t) for t in texts))


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=False))


@dataclass
class WorkflowRouter:
    """Scores requests against workflows; the workflows' embeddings are computed once."""

    workflows: Sequence[Workflow]
    embedder: Embedder
    threshold: float
    _vectors: dict[str, list[list[float]]] = field(default_factory=dict, repr=False)
    _vocab: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def _prepare(self) -> None:
        async with self._lock:
            missing = [w for w in self.workflows if w.name not in self._vectors]
            for workflow in missing:
                self._vectors[workflow.name] = await self.embedder.embed(workflow_texts(workflow))
                self._vocab[workflow.name] = _vocabulary(workflow)

    async def score(self, request: str) -> list[Candidate]:
        """Every workflow's candidate for ``request``, best first."""
        if not self.workflows:
            return []
        await self._prepare()
        vector = (await self.embedder.embed([request]))[0]
        words = keywords(request)
        candidates = []
        for workflow in self.workflows:
            semantic = max((_dot(vector, v) for v in self._vectors[workflow.name]), default=0.0)
            vocab = self._vocab[workflow.name]
            coverage = len(words & vocab) / len(words) if words else 0.0
            unknown = tuple(sorted((words & INTENT_TERMS) - vocab))
            score = max(0.0, semantic) * (0.5 + 0.5 * coverage) * 0.5 ** len(unknown)
            candidates.append(Candidate(workflow.name, score, semantic, coverage, unknown))
        return sorted(candidates, key=lambda c: -c.score)

    async def route(self, request: str) -> Route:
        """The workflow to run for ``request``, or None with the closest candidates."""
        candidates = tuple(await self.score(request))
        chosen = candidates[0].workflow if candidates and candidates[0].score >= self.threshold else None
        return Route(chosen, self.threshold, candidates)


def calibrate(scores: Sequence[float], correct: Sequence[bool], target_accuracy: float = 0.98) -> float | None:
    """A threshold whose routed requests are at least ``target_accuracy`` right, with a margin.

    ``scores`` are the best candidates' scores on labelled requests, ``correct`` whether that
    candidate was the expected workflow (False for every request no workflow should answer).
    :func:`~orchestrator.calibration.threshold_for` finds the lowest accepted score; the threshold
    sits halfway between it and the highest score below it (the widest margin the data allows),
    so a new paraphrase scoring a little under the lowest seen one still routes.
    """
    point = threshold_for(scores, correct, target_accuracy)
    if point is None:
        return None
    below = [s for s in scores if s < point.threshold]
    return (point.threshold + max(below)) / 2 if below else point.threshold
