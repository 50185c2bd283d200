"""Audits on scripted models: a share of local answers is also asked of the teacher, kept as an example
recording agreement; never for confidential inputs; a failing audit never changes the step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.learning import LabelledExample
from orchestrator.learning.audit import agrees
from orchestrator.models import ScriptedModel
from tests.learning.deployment import CLASSIFY, all_texts, deployment, teacher_for

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
    assert audited(await orch.learning.store.examples("classifier")) == {}
    assert (await orch.distill("classifier")).audited_agreement is None
    await orch.aclose()
    secret = await distilled(tmp_path / "secret", [{"label": "shipping"}], audit_rate=1.0, keep_confidential=True)
    teacher = secret.pool.client("big")
    assert isinstance(teacher, ScriptedModel)
    before = len(teacher.calls)
    step = (await secret.run(CLASSIFY, {"text": NEW[0]}, sensitivity={"text": "confidential"})).step("c")
    assert step.status == "completed" and step.model == "scripted:small"
    assert len(teacher.calls) == before  # the remote teacher never saw the confidential text
    assert audited(await secret.learning.store.examples("classifier")) == {}
    await secret.aclose()


async def test_a_failing_audit_leaves_the_step_as_answered(tmp_path: Path) -> None:
    orch = await distilled(tmp_path, ["not json at all", "still not json"], audit_rate=1.0)
    step = (await orch.run(CLASSIFY, {"text": NEW[0]})).step("c")
    assert step.status == "completed" and step.output["label"] == "shipping" and step.model == "scripted:small"
    assert audited(await orch.learning.store.examples("classifier")) == {}
    await orch.aclose()


def test_agreement_compares_answers_not_confidences() -> None:
    assert agrees({"label": "a", "confidence": 0.9, "scores": {"a": 0.9}}, {"label": "a", "confidence": 0.6})
    assert not agrees({"label": "a", "confidence": 0.9}, {"label": "b", "confidence": 0.9})
    assert not agrees({"label": "a"}, {"confidence": 0.9})  # nothing to compare: not an agreement
