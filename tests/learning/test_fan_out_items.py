"""A fan-out's items are traced one by one (``step[i]``): feedback on item i corrects item i."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InputError
from orchestrator.models import FunctionModel, ModelCall
from orchestrator.plan import Plan
from tests.learning.deployment import CLASSIFY, LABELS, TEXTS, all_texts, deployment, gold

TEXTS_IN = [TEXTS["billing"][0], TEXTS["shipping"][0], TEXTS["billing"][1]]
FAN_OUT = Plan.parse({"goal": "classify each", "steps": [
    {"id": "c", "agent": "classifier", "for_each": "$input.texts", "inputs": {"text": "$item"},
     "params": {"labels": LABELS}}]})


def answer(call: ModelCall) -> dict[str, str]:
    """The teacher: the gold label of whichever text it was asked about (items run concurrently)."""
    return {"label": next(gold(t) for t in all_texts() if t in call.last_user)}


async def test_each_item_is_traced_and_kept_under_its_own_id(tmp_path: Path) -> None:
    orch = deployment(tmp_path, big=FunctionModel(answer, ref="scripted:big", local=False))
    run = await orch.run(FAN_OUT, {"texts": TEXTS_IN})  # no head yet: every item escalates to the teacher
    assert [o["label"] for o in run.step("c").output] == ["billing", "shipping", "billing"]
    kept = {e.step_id: e for e in await orch.learning.store.examples("classifier")}
    assert {k: e.input["text"] for k, e in kept.items()} == {f"c[{i}]": t for i, t in enumerate(TEXTS_IN)}
    for position, text in enumerate(TEXTS_IN):
        trace = await orch.learning.store.trace(run.run_id, f"c[{position}]")
        assert trace is not None and trace.input["text"] == text and trace.output["label"] == gold(text)
    assert await orch.learning.store.trace(run.run_id, "c") is None
    await orch.aclose()


async def test_feedback_on_an_item_corrects_that_item(tmp_path: Path) -> None:
    orch = deployment(tmp_path, big=FunctionModel(answer, ref="scripted:big", local=False))
    run = await orch.run(FAN_OUT, {"texts": TEXTS_IN})
    example = await orch.feedback(run.run_id, "c[1]", {"label": "billing"})  # the person says item 1 is billing
    assert example.input["text"] == TEXTS_IN[1]
    assert example.source == "feedback" and example.step_id == "c[1]"
    kept = {e.input["text"]: e for e in await orch.learning.store.examples("classifier")}
    assert kept[TEXTS_IN[1]].output == {"label": "billing"} and kept[TEXTS_IN[1]].source == "feedback"
    assert kept[TEXTS_IN[0]].source == kept[TEXTS_IN[2]].source == "teacher"  # the other items untouched
    with pytest.raises(InputError, match=r"fanned out over items.*'c\[0\]'"):
        await orch.feedback(run.run_id, "c", {"label": "billing"})
    await orch.aclose()


async def test_audited_items_are_kept_by_item_and_their_costs_add_up_on_the_step(tmp_path: Path) -> None:
    teacher = FunctionModel(answer, ref="scripted:big", local=False)
    orch = deployment(tmp_path, big=teacher, price=1_000_000.0, audit_rate=1.0, holdout=0.01)  # $1 a token
    for text in all_texts():
        await orch.run(CLASSIFY, {"text": text})
    assert (await orch.distill("classifier")).promoted
    before = len(teacher.calls)
    run = await orch.run(FAN_OUT, {"texts": TEXTS_IN})
    step = run.step("c")
    assert step.model == "scripted:small" and not step.escalated  # every item answered locally ...
    assert len(teacher.calls) - before == len(TEXTS_IN)  # ... and audited
    audited = {e.step_id: e.input["text"] for e in await orch.learning.store.examples("classifier") if e.audit}
    assert audited == {f"c[{i}]": t for i, t in enumerate(TEXTS_IN)}
    assert step.audit_usage.total_tokens > 0 and step.audit_cost_usd == pytest.approx(step.audit_usage.total_tokens)
    assert run.cost.audit_cost_usd == step.audit_cost_usd
    await orch.aclose()
