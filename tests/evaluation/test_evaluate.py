"""Orchestrator.evaluate on scripted models: accuracy, local vs escalated, local accuracy, the local
model scored on escalated items too, thresholds from data, cost against the baseline, errors."""

from __future__ import annotations

import pytest

from orchestrator.errors import InputError, UnknownNameError, UserError
from orchestrator.evaluation import EvalReport
from orchestrator.workflow import Input, Workflow
from tests.evaluation.deployment import build, rows

# gold, the local model's confidence, the local model's answer: right when sure, wrong when unsure,
# except one confident mistake (e) and one unsure right answer (d)
SPEC = [("a", 0.9, "a"), ("b", 0.8, "b"), ("c", 0.3, "x"), ("d", 0.4, "d"), ("e", 0.7, "z"), ("f", 0.95, "f")]


async def evaluate(spec: list[tuple[str, float, str]] = SPEC, **options: object) -> EvalReport:
    async with build(threshold=0.5) as orch:
        return await orch.evaluate("label_it", rows(spec), expect=["label=gold"], **options)  # type: ignore[arg-type]


async def test_accuracy_and_who_answered() -> None:
    report = await evaluate()
    f = report.field("label")
    assert (report.items, report.failed, f.step, f.agent) == (6, 0, "label", "echo")
    # confident (>= 0.5): a b e f answered locally (e wrongly); c d escalate and the big model is right
    assert f.answered_locally == pytest.approx(4 / 6) and f.answered_remotely == pytest.approx(2 / 6)
    assert f.local_accuracy == pytest.approx(3 / 4)
    assert f.accuracy == pytest.approx(5 / 6)
    assert [(c.expected, c.predicted, c.count) for c in f.confusions] == [("e", "z", 1)]
    assert {s.label: (s.items, s.correct) for s in f.per_label}["e"] == (1, 0)


async def test_the_local_model_is_scored_on_the_items_it_escalated_too() -> None:
    c = (await evaluate()).field("label").calibration
    assert c is not None and c.items == 6
    assert c.accuracy == pytest.approx(4 / 6)  # d was right at 0.4, c wrong at 0.3
    assert [(p.threshold, round(p.coverage, 3), round(p.accuracy, 3)) for p in c.curve] == [
        (0.95, 0.167, 1.0), (0.9, 0.333, 1.0), (0.8, 0.5, 1.0), (0.7, 0.667, 0.75), (0.4, 0.833, 0.8),
        (0.3, 1.0, 0.667)]
    assert 0 <= c.ece <= 1 and sum(b.count for b in c.bins) == 6


async def test_target_accuracy_picks_the_threshold_that_holds_it() -> None:
    report = await evaluate(target_accuracy=0.95)
    c = report.field("label").calibration
    assert c is not None and c.threshold == 0.8 and c.coverage_at_threshold == pytest.approx(0.5)
    assert report.thresholds == {"echo": 0.8} and report.notes == []
    lenient = await evaluate(target_accuracy=0.75)
    assert lenient.thresholds == {"echo": 0.4}  # 80% accuracy at 5/6 coverage


async def test_no_threshold_reaching_the_target_is_reported_as_none() -> None:
    report = await evaluate([("a", 0.9, "x"), ("b", 0.8, "y")], target_accuracy=0.9)
    assert report.thresholds == {"echo": None}
    assert report.field("label").calibration.threshold is None  # type: ignore[union-attr]


async def test_conservative_thresholds_need_more_evidence() -> None:
    spec = [(g, 0.9, g) for g in "abcdefgh"]
    assert (await evaluate(spec, target_accuracy=0.9)).thresholds == {"echo": 0.9}
    assert (await evaluate(spec, target_accuracy=0.9, conservative=True)).thresholds == {"echo": None}


async def test_cost_is_priced_against_the_all_large_model_baseline() -> None:
    report = await evaluate()
    assert report.baseline_model == "function:big"
    assert 0 < report.cost_usd < report.baseline_cost_usd  # two of six items paid for the big model
    assert report.latency_p95_ms >= report.latency_p50_ms > 0


async def test_failed_items_are_counted_unanswered_and_listed() -> None:
    report = await evaluate([("a", 0.9, "a"), ("boom", 0.1, "x")])
    f = report.field("label")
    assert report.failed == 1 and [e.id for e in report.errors] == ["1"]
    assert "fell over" in report.errors[0].error
    assert f.unanswered == pytest.approx(0.5) and f.accuracy == pytest.approx(0.5)
    assert f.calibration is not None and f.calibration.items == 2  # the local answer was still scored


async def test_one_specialist_runs_as_a_single_step() -> None:
    async with build() as orch:
        report = await orch.evaluate("echo", rows(SPEC), expect={"text": "gold"}, inputs={"text": "text"},
                                     target_accuracy=0.95)
    f = report.field("text")
    assert report.target == "echo" and f.agent == "echo"
    assert f.accuracy == pytest.approx(5 / 6) and report.thresholds == {"echo": 0.8}


async def test_a_single_model_cascade_fails_low_confidence_steps_but_still_measures_the_local_model() -> None:
    async with build(threshold=0.5, cascade=("small",)) as orch:
        report = await orch.evaluate("label_it", rows(SPEC), expect=["label=gold"], target_accuracy=0.95)
    f = report.field("label")
    assert report.failed == 2 and f.unanswered == pytest.approx(2 / 6) and f.answered_remotely == 0
    assert f.calibration is not None and f.calibration.items == 6 and report.thresholds == {"echo": 0.8}
    assert report.notes == ["one model in the cascade of echo: below the threshold a step fails instead of "
                            "escalating; add a larger model to the cascade before raising the threshold"]


async def test_warm_up_runs_the_first_case_once_more_unscored() -> None:
    async with build() as orch:
        report = await orch.evaluate("label_it", rows(SPEC), expect=["label=gold"], warmup=True)
        calls = [call.last_user for call in orch.pool.client("small").calls]  # type: ignore[attr-defined]
    assert report.items == 6 and len(calls) == 7 and calls[0] == "a 0.9 a" and calls.count("a 0.9 a") == 2


def test_the_sync_twin_returns_the_same_report() -> None:
    with build() as orch:
        report = orch.evaluate_sync("label_it", rows(SPEC), expect=["label=gold"])
    assert report.field("label").accuracy == pytest.approx(5 / 6)


async def test_bad_targets_and_data_are_refused_clearly() -> None:
    async with build() as orch:
        with pytest.raises(UnknownNameError, match="lable_it"):
            await orch.evaluate("lable_it", rows(SPEC), expect=["label=gold"])
        with pytest.raises(InputError, match="has no items"):
            await orch.evaluate("label_it", [], expect=["label=gold"])
        with pytest.raises(InputError, match="ids repeat"):
            await orch.evaluate("label_it", [{"id": "1", "text": "a 1 a", "gold": "a"}] * 2, expect=["label=gold"])
        with pytest.raises(UserError, match="not in"):
            await orch.evaluate("label_it", rows(SPEC), expect=["label=gold"], target_accuracy=95)


async def test_a_field_the_answer_does_not_have_is_refused_with_the_fields_it_has() -> None:
    async with build() as orch:
        with pytest.raises(InputError, match="label_it's answer has no such field; its fields are label"):
            await orch.evaluate("label_it", rows(SPEC), expect=["lable=gold"])
        with pytest.raises(InputError, match="echo's answer has no such field; its fields are text, confidence"):
            await orch.evaluate("echo", rows(SPEC), expect=["label=gold"])


async def test_a_field_no_step_answers_is_scored_without_a_trace() -> None:
    wf = Workflow("copy", "Copies its input.", inputs={"text": Input(str, "The text.")})
    wf.step("label", "echo", text=wf.input.text)
    wf.output(given=wf.input.text)
    async with build() as orch:
        report = await orch.evaluate(wf, [{"text": "a 1 a", "gold": "a 1 a"}, {"text": "b 1 b", "gold": "x"}],
                                     expect=["given=gold"])
    f = report.field("given")
    assert report.target == "copy" and f.step is None and f.calibration is None
    assert f.accuracy == 0.5 and f.answered_by_tool == 1.0  # an input echoed back: no model's answer
