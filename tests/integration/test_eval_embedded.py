"""``Orchestrator.evaluate`` on the real embedded classifier (all-MiniLM-L6-v2) and the shipped labelled tickets.

The README documents ``orchestrator eval ticket_triage examples/eval/tickets.jsonl``; this runs its
category field through the classifier alone (one step, the workflow's own labels), so a change that
breaks the shipped set or the measurement path shows here with real confidences.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.settings import Settings
from orchestrator.workflows.ticket_triage import CATEGORIES

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]

TICKETS = Path(__file__).resolve().parents[2] / "examples/eval/tickets.jsonl"


async def test_the_classifier_on_the_shipped_tickets() -> None:
    if importlib.util.find_spec("sentence_transformers") is None:
        pytest.skip("sentence_transformers is not installed (pip install 'slm-orchestrator[embeddings]')")
    async with Orchestrator(Settings.load(profile="embedded", redis_url=None)) as orch:
        report = await orch.evaluate("classifier", TICKETS, expect=["label=category"], inputs=["text=ticket"],
                                     params={"labels": CATEGORIES}, target_accuracy=0.9)
    f = report.field("label")
    assert report.items == 36 and report.failed == 0
    assert f.accuracy >= 0.9 and f.answered_locally == 1.0  # 94.4% when measured
    assert f.calibration is not None and f.calibration.items == 36
    assert report.thresholds["classifier"] is not None
    assert report.baseline_cost_usd > report.cost_usd == 0.0
