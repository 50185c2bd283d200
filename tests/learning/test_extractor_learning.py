"""The extractor learns too: collected ``{text, fields} -> {data}`` examples fit its span ranker,
distillation promotes it to ``ranker_path``, and a running extractor ranks with it at the next step."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from orchestrator.agents._ranker_learner import RankerLearner
from orchestrator.agents._span_features import same_value
from orchestrator.engine.app import Orchestrator
from orchestrator.learner import Pair
from orchestrator.learning import LabelledExample
from orchestrator.models import FunctionModel, ModelSpec
from orchestrator.plan import Plan
from orchestrator.settings import Settings
from tests.agents.test_ranker import receipt

FIELDS: dict[str, Any] = {"properties": {
    "total": {"type": "number", "description": "The amount to pay (the total)."},
    "date": {"type": "string", "format": "date", "description": "The date of the receipt."},
    "paid_by": {"type": "string", "enum": ["cash", "card"], "description": "How it was paid."},
}}
SPANS = {"properties": {name: FIELDS["properties"][name] for name in ("total", "date")}}
EXTRACT = Plan.parse({"goal": "read a receipt", "steps": [
    {"id": "x", "agent": "extractor", "inputs": {"text": "$input.text"}, "params": {"fields": SPANS}}]})


def pairs(n: int, seed: int, fields: dict[str, Any] = FIELDS) -> list[Pair]:
    """Receipts whose total sits under ``JUMLAH`` (a label the priors do not know), labelled."""
    rng = random.Random(seed)
    docs = [receipt(rng) for _ in range(n)]
    return [({"text": d.text, "fields": fields}, {"data": {"total": float(d.fields["total"]), "date": d.fields["date"],
                                                           "paid_by": "cash"}}) for d in docs]


async def test_the_learner_fits_span_fields_and_judges_whole_documents() -> None:
    learner = RankerLearner(None)
    train = pairs(30, seed=1)
    assert all(learner.usable(p) for p in train)
    assert not learner.usable(({"text": "x", "fields": FIELDS}, {"data": {"paid_by": "cash"}}))  # categories only
    assert not learner.usable(({"text": 3, "fields": FIELDS}, {"data": {"total": 1.0}}))
    assert not learner.usable(({"text": "x", "fields": {}}, {"data": {"total": 1.0}}))  # not a request
    artefact = await learner.fit(train)
    assert set(artefact["fields"]) == {"total", "date"}  # the enum is chosen, not ranked
    judged = await learner.judge(artefact, pairs(10, seed=2))
    assert sum(ok for _, ok in judged) >= 9 and all(0.0 <= c <= 1.0 for c, _ in judged)


async def test_distill_promotes_a_ranker_that_the_running_extractor_uses(tmp_path: Path) -> None:
    ranker_path = tmp_path / "receipts.json"
    settings = Settings(
        models={"small": ModelSpec(ref="scripted:small", local=True)},
        specialists={"extractor": {"cascade": ["small"], "threshold": 0.0, "options": {
            "grounded": True, "ranker_path": str(ranker_path), "ranker_confidence": 0.0, "decisive_margin": 0.0}}},
        learning={"enabled": True, "versions_dir": str(tmp_path / "versions")},
    )
    small = FunctionModel(lambda call: "{}", ref="scripted:small", local=True,
                          scorer=lambda call: [0.0] * len(call.options))  # no opinion: the ranking decides
    orch = Orchestrator(settings, models={"small": small})
    (data, label), = pairs(1, seed=9, fields=SPANS)
    before = await orch.run(EXTRACT, {"text": data["text"]})
    guessed = before.step("x").output["data"]["total"]
    assert before.ok and guessed is not None and not same_value(guessed, label["data"]["total"], "money")  # the cash
    for text_fields, output in pairs(40, seed=3, fields=SPANS):
        await orch.learning.store.add(LabelledExample(specialist="extractor", input=text_fields, output=output,
                                                      source="feedback"))
    report = await orch.distill("extractor")
    assert report.promoted and report.live_path == ranker_path and ranker_path.exists()
    assert report.version.kind == "span-ranker" and (report.version.accuracy or 0) >= 0.9
    after = await orch.run(EXTRACT, {"text": data["text"]})
    learned = after.step("x").output["data"]["total"]
    assert same_value(learned, label["data"]["total"], "money")  # the JUMLAH line, read without a restart
    await orch.aclose()
