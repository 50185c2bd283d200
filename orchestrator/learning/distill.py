"""Distillation: fit a specialist's learnable part on collected examples, promote it only if no worse.

:func:`distill` splits the usable examples of a specialist into a training part and a held-out
part *by a hash of each example's input*, so an example stays on its side as the store grows and
the live version was never trained on the examples it is compared on. It fits a candidate on
the training part, scores candidate and live version on the held-out part, keeps the candidate
as a new version either way (data hash, metrics, date) and promotes it when its held-out
accuracy is at least the live one's (or when nothing is live yet).

:func:`distilling` holds a specialist's distillation lock in the example store (a Redis key with
an expiry when Redis is used) around a distillation, so two processes never fit and promote the
same specialist at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from orchestrator.calibration import CoveragePoint, threshold_for
from orchestrator.errors import InputError, RuntimeFailure, StoreError
from orchestrator.learner import Learner, Pair
from orchestrator.learning.examples import ExampleStore, LabelledExample
from orchestrator.learning.versions import VersionInfo, Versions
from orchestrator.logging import get_logger

log = get_logger(__name__)

MIN_EXAMPLES = 4


class DistillBusy(RuntimeFailure):
    """Another process is distilling this specialist now."""


@asynccontextmanager
async def distilling(store: ExampleStore, specialist: str, ttl: int) -> AsyncIterator[None]:
    """Hold ``specialist``'s distillation lock (at most ``ttl`` seconds); :class:`DistillBusy` if taken.
    A release the store cannot make is logged, not raised: the lock expires after ``ttl``."""
    token = await store.lock_distill(specialist, ttl)
    if token is None:
        raise DistillBusy(f"another process is distilling {specialist} now (its lock expires within {ttl} s "
                          "at most); try again once it is done")
    try:
        yield
    finally:
        try:
            await store.unlock_distill(specialist, token)
        except StoreError as exc:  # it expires by itself: what the distillation did (or raised) stands
            log.warning("learning.distill_unlock_failed", specialist=specialist, error=str(exc), expires_in_s=ttl)


@dataclass(frozen=True, slots=True)
class DistillReport:
    """What one distillation did."""

    version: VersionInfo
    promoted: bool
    reason: str
    live_path: Path
    audited: int = 0
    """Audited examples (:mod:`~orchestrator.learning.audit`): local answers a teacher also gave."""
    audited_agreement: float | None = None
    """Share of those where the local answer agreed with the teacher: the local accuracy measured
    on an unbiased sample of the traffic (None without audits)."""


def audited_agreement(examples: Sequence[LabelledExample]) -> tuple[int, float | None]:
    """(audited examples, share whose local answer the teacher agreed with)."""
    records = [e.audit for e in examples if e.audit is not None]
    return len(records), (sum(r.agreed for r in records) / len(records) if records else None)


def data_hash(examples: Sequence[LabelledExample]) -> str:
    """A hash of the examples' inputs and outputs (order-independent)."""
    lines = sorted(json.dumps([e.input, e.output], sort_keys=True, default=str) for e in examples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def split(examples: Sequence[LabelledExample], holdout: float) -> tuple[list[LabelledExample], list[LabelledExample]]:
    """(training, held out): an example is held out when its input's hash falls in the first ``holdout``."""
    train: list[LabelledExample] = []
    held: list[LabelledExample] = []
    for example in examples:
        (held if int(example.id[:8], 16) / 0xFFFFFFFF < holdout else train).append(example)
    return train, held


def _pairs(examples: Sequence[LabelledExample]) -> list[Pair]:
    return [(e.input, e.output) for e in examples]


def _threshold(judged: Sequence[tuple[float, bool]], held: Sequence[LabelledExample],
               target: float) -> CoveragePoint | None:
    """The threshold keeping ``target`` on the held-out examples, each audited one counting 1/rate times.

    Escalations and feedback are the items the live version got unsure or wrong; an audited
    example stands for 1/rate confident local answers, so weighting it so makes the held-out
    set a sample of the traffic, and the threshold less conservative than on escalations alone."""
    weights = [round(1 / e.audit.rate) if e.audit is not None and e.audit.rate > 0 else 1 for e in held]
    confidences = [c for (c, _), n in zip(judged, weights, strict=True) for _ in range(n)]
    correct = [ok for (_, ok), n in zip(judged, weights, strict=True) for _ in range(n)]
    return threshold_for(confidences, correct, target)


async def distill(examples: Sequence[LabelledExample], learner: Learner, versions: Versions, *,
                  live_path: Path, holdout: float = 0.2, target_accuracy: float = 0.95) -> DistillReport:
    """Fit, compare on held-out examples, keep the version, promote if no worse.

    The version also records the confidence threshold that keeps ``target_accuracy`` on the
    held-out examples (:func:`~orchestrator.calibration.threshold_for`): a data-chosen value for
    the specialist's ``threshold``, conservative when the held-out examples are escalations only
    (the hard items); audited examples count 1/rate times, which corrects that."""
    usable = [e for e in examples if learner.usable((e.input, e.output))]
    if len(usable) < MIN_EXAMPLES:
        raise InputError(f"{versions.specialist} has {len(usable)} usable labelled examples; distilling needs at "
                         f"least {MIN_EXAMPLES} (collect more: escalations with [learning] enabled, or feedback)")
    train, held = split(usable, holdout)
    if len(train) < MIN_EXAMPLES:  # a tiny set: train on everything, compare on nothing
        train, held = usable, []
    started = time.perf_counter()
    candidate = await learner.fit(_pairs(train))
    fit_seconds = time.perf_counter() - started
    current = versions.current()
    judged = await learner.judge(candidate, _pairs(held)) if held else []
    accuracy = sum(ok for _, ok in judged) / len(judged) if judged else None
    point = _threshold(judged, held, target_accuracy) if judged else None
    current_accuracy = None
    if current is not None and held:
        live = await learner.judge(versions.artefact(current), _pairs(held))
        current_accuracy = sum(ok for _, ok in live) / len(live)
    if current is None:
        promote, reason = True, "nothing was live"
    elif accuracy is None or current_accuracy is None:
        promote, reason = False, "no held-out examples to compare with the live version; collect more"
    else:
        promote = accuracy >= current_accuracy
        reason = (f"held-out accuracy {accuracy:.3f} {'>=' if promote else '<'} live {current_accuracy:.3f} "
                  f"on {len(held)} examples")
    info = versions.add(VersionInfo(version="", specialist=versions.specialist, kind=learner.kind,
                                    data_hash=data_hash(train), examples=len(train), held_out=len(held),
                                    accuracy=accuracy, current_accuracy=current_accuracy,
                                    threshold=None if point is None else point.threshold,
                                    threshold_coverage=None if point is None else point.coverage,
                                    target_accuracy=target_accuracy,
                                    fit_seconds=round(fit_seconds, 3)), candidate)
    if promote:
        info = versions.activate(info.version, live_path)
    audited, agreement = audited_agreement(examples)
    log.info("learning.distilled", specialist=versions.specialist, version=info.version, promoted=promote,
             reason=reason, audited=audited, audited_agreement=agreement)
    return DistillReport(info, promote, reason, live_path, audited, agreement)


__all__ = ["MIN_EXAMPLES", "DistillBusy", "DistillReport", "audited_agreement", "data_hash", "distill", "distilling",
           "split"]
