"""The flywheel on scripted models: escalations and feedback become examples, distill promotes and
rolls back, and a running classifier picks up the promoted head without a restart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.agents import Classifier
from orchestrator.errors import InputError, UserError
from orchestrator.learner import Pair
from orchestrator.learning import LabelledExample, Versions, distill
from orchestrator.models import ScriptedModel
from orchestrator.specialist import SpecialistConfig
from tests.learning.deployment import CLASSIFY, EMBED_ONLY, all_texts, deployment, teacher_for


async def test_escalated_answers_become_teacher_examples_and_feedback_corrects_them(tmp_path: Path) -> None:
    texts = all_texts()
    orch = deployment(tmp_path, teacher=teacher_for(texts))
    runs = [await orch.run(CLASSIFY, {"text": text}) for text in texts]
    assert all(r.step("c").model == "scripted:big" and r.step("c").escalated for r in runs)  # no head yet
    kept = await orch.learning.store.examples("classifier")
    assert len(kept) == len(texts)
    assert {e.source for e in kept} == {"teacher"} and {e.model for e in kept} == {"scripted:big"}
    assert {e.input["text"]: e.output["label"] for e in kept} == {t: a["label"] for t, a in
                                                                  zip(texts, teacher_for(texts), strict=True)}
    fixed = await orch.feedback(runs[0].run_id, "c", {"label": "shipping"})
    assert fixed.source == "feedback" and fixed.input["text"] == texts[0]
    by_text = {e.input["text"]: e for e in await orch.learning.store.examples("classifier")}
    assert by_text[texts[0]].output == {"label": "shipping"} and by_text[texts[0]].source == "feedback"
    await orch.aclose()


async def test_feedback_says_what_is_wrong(tmp_path: Path) -> None:
    orch = deployment(tmp_path, teacher=teacher_for(all_texts()[:1]))
    run = await orch.run(CLASSIFY, {"text": all_texts()[0]})
    with pytest.raises(InputError, match="no trace of step 'nope'"):
        await orch.feedback(run.run_id, "nope", {"label": "billing"})
    with pytest.raises(InputError, match="non-empty JSON object"):
        await orch.feedback(run.run_id, "c", {})
    off = deployment(tmp_path, enabled=False)
    with pytest.raises(UserError, match=r"\[learning\] enabled = true"):
        await off.feedback(run.run_id, "c", {"label": "billing"})
    await orch.aclose()
    await off.aclose()


async def test_confidential_steps_are_kept_only_when_allowed(tmp_path: Path) -> None:
    text = all_texts()[0]
    for keep, expected in ((False, 0), (True, 1)):
        orch = deployment(tmp_path, keep_confidential=keep)
        orch.pool.client("small")  # the local model alone: the teacher may not see confidential data
        result = await orch.run(CLASSIFY, {"text": text}, sensitivity={"text": "confidential"})
        assert result.step("c").status == "failed"  # no head yet, and the remote teacher is skipped
        assert (await orch.learning.store.trace(result.run_id, "c") is not None) == bool(expected)
        assert await orch.learning.store.count("classifier") == 0  # nothing answered it: no example
        await orch.aclose()


async def test_distill_promotes_and_the_local_model_then_answers(tmp_path: Path) -> None:
    texts = all_texts()
    orch = deployment(tmp_path, teacher=teacher_for(texts), holdout=0.01)
    for text in texts:
        await orch.run(CLASSIFY, {"text": text})
    report = await orch.distill("classifier")
    assert report.promoted and report.reason == "nothing was live"
    assert report.version.version == "v0001" and report.version.examples == len(texts)
    assert report.live_path == tmp_path / "head.json" and report.live_path.is_file()
    after = await orch.run(CLASSIFY, {"text": "my parcel delivery is late"})
    step = after.step("c")
    assert step.output["label"] == "shipping" and step.model == "scripted:small" and not step.escalated
    await orch.aclose()


async def test_distill_needs_enough_examples_and_a_learner(tmp_path: Path) -> None:
    orch = deployment(tmp_path)
    with pytest.raises(InputError, match="at least 4"):
        await orch.distill("classifier")
    with pytest.raises(InputError, match="cannot learn"):
        await orch.distill("summarizer")
    await orch.aclose()


class Scored:
    """A learner whose artefact is its own held-out accuracy (to script promotion decisions)."""

    kind = "scored"

    def __init__(self, accuracy: float, live_path: Path) -> None:
        self.next_accuracy = accuracy
        self._live = live_path

    @property
    def live_path(self) -> Path:
        return self._live

    def usable(self, pair: Pair) -> bool:
        return "label" in pair[1]

    async def fit(self, pairs: Sequence[Pair]) -> dict[str, Any]:
        return {"accuracy": self.next_accuracy, "trained_on": len(pairs)}

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        right = round(float(artefact["accuracy"]) * len(pairs))  # the confident answers are the right ones
        return [(0.9, True)] * right + [(0.1, False)] * (len(pairs) - right)


def labelled(n: int) -> list[LabelledExample]:
    return [LabelledExample(specialist="classifier", input={"text": f"text {i}"}, output={"label": f"l{i % 2}"},
                            source="teacher") for i in range(n)]


async def test_promote_only_if_no_worse_keep_every_version_and_roll_back(tmp_path: Path) -> None:
    live = tmp_path / "live.json"
    versions, learner, examples = Versions(tmp_path / "v", "classifier"), Scored(0.8, live), labelled(40)
    first = await distill(examples, learner, versions, live_path=live, holdout=0.25)
    assert first.promoted and versions.current() == "v0001"
    assert 0 < first.version.held_out < 40 and first.version.examples + first.version.held_out == 40
    learner.next_accuracy = 0.7
    worse = await distill(examples, learner, versions, live_path=live, holdout=0.25)
    assert not worse.promoted and " < live " in worse.reason and versions.current() == "v0001"
    assert first.version.threshold == 0.9 and first.version.accuracy is not None
    learner.next_accuracy = 0.8
    same = await distill(examples, learner, versions, live_path=live, holdout=0.25)
    assert same.promoted and versions.current() == "v0003"
    listed = versions.list()
    assert [(v.version, v.promoted) for v in listed] == [("v0001", True), ("v0002", False), ("v0003", True)]
    assert all(len(v.data_hash) == 16 and v.date.endswith("UTC") for v in listed)
    back = versions.rollback(live)
    assert back.version == "v0001" and versions.current() == "v0001"
    with pytest.raises(InputError, match="no earlier promoted version"):
        versions.rollback(live)
    with pytest.raises(InputError, match="no version 'v0009'"):
        versions.rollback(live, to="v0009")


async def test_a_running_classifier_picks_up_a_promoted_head(tmp_path: Path) -> None:
    """What a worker sees: its classifier reloads the head file when a promotion replaces it."""
    texts = all_texts()
    orch = deployment(tmp_path, teacher=teacher_for(texts), holdout=0.01)
    for text in texts:
        await orch.run(CLASSIFY, {"text": text})
    await orch.distill("classifier")
    worker = Classifier(SpecialistConfig(options={"head_path": str(tmp_path / "head.json")}))
    assert worker.head().labels == ["billing", "shipping"]
    third = ["weather sunny rain", "forecast rain tomorrow", "sunny weather today", "rain forecast week"]
    for text in third:
        await orch.learning.store.add(LabelledExample(specialist="classifier", input={"text": text},
                                                      output={"label": "weather"}, source="feedback"))
    versions = orch.learning.versions("classifier")
    report = await orch.distill("classifier")
    if not report.promoted:  # the held-out comparison is data-dependent; activating is what a promotion does
        versions.activate(report.version.version, tmp_path / "head.json")
    assert worker.head().labels == ["billing", "shipping", "weather"]
    verdict = await worker.attempt(worker.Input.model_validate({"text": "rain forecast sunny", "labels": []}),
                                   ScriptedModel(capabilities=EMBED_ONLY))
    assert verdict.output is not None and verdict.output.label == "weather"
    orch.learning.rollback("classifier", to="v0001")
    assert worker.head().labels == ["billing", "shipping"]
    await orch.aclose()


async def test_automatic_distillation_every_n_new_examples(tmp_path: Path) -> None:
    texts = all_texts()
    orch = deployment(tmp_path, teacher=teacher_for(texts), distill_every=len(texts), holdout=0.01)
    for text in texts:
        await orch.run(CLASSIFY, {"text": text})
    await orch.learning.collector.drain()
    assert [v.version for v in orch.learning.versions("classifier").list()] == ["v0001"]
    assert (tmp_path / "head.json").is_file()
    await orch.aclose()
