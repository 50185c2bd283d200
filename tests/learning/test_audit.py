"""Audits on scripted models: a share of local answers is also asked of the teacher, kept as an example
recording agreement; never for confidential inputs; a failing audit never changes the step."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.learner import Pair
from orchestrator.learning import AuditRecord, LabelledExample, Versions, distill
from orchestrator.learning.audit import agrees
from orchestrator.learning.distill import split
from orchestrator.models import ScriptedModel
from tests.learning.deployment import CLASSIFY, all_texts, deployment, teacher_for
from tests.learning.test_collect_and_distill import Scored

NEW = ["my parcel delivery is late", "invoice payment charged twice"]
"""Unseen texts the distilled head answers locally (shipping, billing)."""


async def distilled(tmp_path: Path, audits: list[Any], **learning: Any) -> Orchestrator:
    """A deployment whose head was distilled from the teacher, then given ``audits`` as the teacher's next replies."""
    texts = all_texts()
    orch = deployment(tmp_path, teacher=teacher_for(texts), holdout=0.01, **learning)
    for text in texts:
        await orch.run(CLASSIFY, {"text": text})
    assert (await orch.distill("classifier")).promoted
    teacher = orch.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    teacher.add(*audits)
    return orch


def audited(examples: list[LabelledExample]) -> dict[str, LabelledExample]:
    return {e.input["text"]: e for e in examples if e.audit is not None}


async def test_audited_local_answers_become_teacher_examples_recording_agreement(tmp_path: Path) -> None:
    orch = await distilled(tmp_path, [{"label": "shipping"}, {"label": "shipping"}], audit_rate=1.0)
    teacher = orch.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    before = len(teacher.calls)
    runs = [await orch.run(CLASSIFY, {"text": text}) for text in NEW]
    await orch.learning.collector.drain()  # audits run in the background, after the step returned
    steps = [r.step("c") for r in runs]
    assert [s.output["label"] for s in steps] == ["shipping", "billing"]  # the local answers stand
    assert all(s.model == "scripted:small" and not s.escalated for s in steps)
    assert len(teacher.calls) - before == 2
    kept = audited(await orch.learning.store.examples("classifier"))
    assert set(kept) == set(NEW)
    right, wrong = kept[NEW[0]], kept[NEW[1]]
    assert right.source == "teacher" and right.model == "scripted:big" and right.output["label"] == "shipping"
    assert right.audit is not None and right.audit.agreed and right.audit.local_model == "scripted:small"
    assert right.audit.rate == 1.0 and right.audit.local_output["label"] == "shipping"
    assert wrong.audit is not None and not wrong.audit.agreed and wrong.output["label"] == "shipping"
    report = await orch.distill("classifier")
    assert report.audited == 2 and report.audited_agreement == 0.5
    await orch.aclose()


async def test_no_audit_at_rate_zero_or_for_confidential_inputs(tmp_path: Path) -> None:
    orch = await distilled(tmp_path / "off", [])
    await orch.run(CLASSIFY, {"text": NEW[0]})
    await orch.learning.collector.drain()
    assert audited(await orch.learning.store.examples("classifier")) == {}
    assert (await orch.distill("classifier")).audited_agreement is None
    await orch.aclose()
    secret = await distilled(tmp_path / "secret", [{"label": "shipping"}], audit_rate=1.0, keep_confidential=True)
    teacher = secret.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    before = len(teacher.calls)
    step = (await secret.run(CLASSIFY, {"text": NEW[0]}, sensitivity={"text": "confidential"})).step("c")
    await secret.learning.collector.drain()
    assert step.status == "completed" and step.model == "scripted:small"
    assert len(teacher.calls) == before  # the remote teacher never saw the confidential text
    assert audited(await secret.learning.store.examples("classifier")) == {}
    await secret.aclose()


async def test_a_failing_audit_leaves_the_step_as_answered(tmp_path: Path) -> None:
    orch = await distilled(tmp_path, ["not json at all", "still not json"], audit_rate=1.0)
    step = (await orch.run(CLASSIFY, {"text": NEW[0]})).step("c")
    await orch.learning.collector.drain()
    assert step.status == "completed" and step.output["label"] == "shipping" and step.model == "scripted:small"
    assert audited(await orch.learning.store.examples("classifier")) == {}
    await orch.aclose()


def test_agreement_compares_answers_not_confidences() -> None:
    assert agrees({"label": "a", "confidence": 0.9, "scores": {"a": 0.9}}, {"label": "a", "confidence": 0.6})
    assert not agrees({"label": "a", "confidence": 0.9}, {"label": "b", "confidence": 0.9})
    assert not agrees({"label": "a"}, {"confidence": 0.9})  # nothing to compare: not an agreement


class Judged(Scored):
    """A learner whose answer to each pair is scripted in the pair's output: confidence ``c``, right ``ok``."""

    kind = "judged"

    def usable(self, pair: Pair) -> bool:
        return "c" in pair[1]

    async def judge(self, artefact: dict[str, Any], pairs: Sequence[Pair]) -> list[tuple[float, bool]]:
        return [(float(output["c"]), bool(output["ok"])) for _, output in pairs]


async def test_audited_examples_weigh_one_over_the_rate_in_the_threshold(tmp_path: Path) -> None:
    """Held out: an audited right answer at 0.7 (rate 0.1: it stands for 10), an escalation wrong at 0.7,
    one right at 0.9. Unweighted, 0.7 keeps 2/3 < 90%, so the threshold is 0.9; weighted 11/12 >= 90%: 0.7."""
    blank = [LabelledExample(specialist="classifier", input={"text": f"text {i}"}, output={}, source="teacher")
             for i in range(60)]
    train, held = split(blank, 0.5)
    assert len(train) >= 4 and len(held) >= 3
    audited_one = AuditRecord(local_output={"label": "x"}, agreed=True, rate=0.1)
    scripted = [(0.7, True, audited_one), (0.7, False, None), (0.9, True, None)]
    examples = [e.model_copy(update={"output": {"label": "x", "c": 0.95, "ok": True}}) for e in train]
    examples += [e.model_copy(update={"output": {"label": "x", "c": c, "ok": ok}, "audit": record})
                 for e, (c, ok, record) in zip(held, scripted, strict=False)]  # the other held-out inputs: left out
    for weighted in (True, False):
        if not weighted:
            examples = [e.model_copy(update={"audit": None}) for e in examples]
        report = await distill(examples, Judged(1.0, tmp_path / f"{weighted}.json"), Versions(tmp_path / f"v{weighted}",
                               "classifier"), live_path=tmp_path / f"{weighted}.json", holdout=0.5,
                               target_accuracy=0.9)
        assert report.version.threshold == (0.7 if weighted else 0.9)
