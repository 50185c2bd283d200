"""What a specialist that can learn from labelled examples offers distillation: a :class:`Learner`.

A specialist with a ``learner(model)`` method returns one, bound to the (local) model it
learns with. Distillation (:mod:`orchestrator.learning.distill`) only sees this protocol: it
fits an *artefact* (plain JSON: no code runs when one is loaded) on ``(input, output)`` pairs,
judges an artefact on held-out pairs (confidence and correctness of each answer, from which
distillation derives the accuracy and a threshold), and writes the promoted one where the specialist reads it
(``live_path``), from which a running specialist picks it up without a restart.

The classifier's learner fits its embedding head; an extractor's could rank spans or choose
few-shot examples by similarity; any specialist can learn by providing the same four members.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Pair = tuple[dict[str, Any], dict[str, Any]]
"""One labelled example: the specialist's input and the output it should give, as JSON objects."""


@runtime_checkable
class Learner(Protocol):
    """Fits and scores a specialist's learnable part."""

    kind: str
    """What the artefact is (e.g. ``"embedding-head"``), recorded with each version."""

    @property
    def live_path(self) -> Path | None:
        """Where the specialist reads its current artefact (None: not configured)."""
        ...

    def usable(self, pair: Pair) -> bool:
        """Whether this example can train the learner (e.g. has a text and a label)."""
        ...

    async def fit(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        """A new artefact learned from ``pairs``."""
        ...

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        """Per pair, the artefact's confidence in its answer and whether that answer is right."""
        ...


__all__ = ["Learner", "Pair"]
