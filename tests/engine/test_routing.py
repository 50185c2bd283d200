"""Cascades, repair, escalation, sensitivity, budgets and cost, on scripted models.

What the guard refuses to send (confidential data, PII) is in ``test_guard.py``.
"""

from __future__ import annotations

import pytest

from orchestrator.engine.guard import RunGuard
from orchestrator.errors import BudgetExceeded
from orchestrator.models import ScriptedModel
from orchestrator.plan import Plan
from orchestrator.settings import Budget
from orchestrator.specialist import Tool
from orchestrator.types import Sensitivity
from tests.engine.priced import ONE_STEP, answer, orchestrator, tokens


async def test_invalid_answer_is_repaired_without_escalation() -> None:
    small, big = ScriptedModel(["not json", answer("fixed")]), ScriptedModel()
    orch = orchestrator({"small": small, "big": big}, cascade=["small", "big"])
    result = await orch.run(ONE_STEP, {"text": "hi"})
    step = result.step("say")
    assert step.status == "completed" and step.output["text"] == "fixed"
    assert [a.outcome for a in step.attempts] == ["invalid", "accepted"]
    assert step.attempts[1].repair
    assert "not valid JSON" in small.calls[1].last_user  # the repair shows the model its error
    assert step.escalated_from == [] and big.calls == []


async def test_invalid_twice_escalates_to_next_model() -> None:
    small, big = ScriptedModel(["nope", "still nope"]), ScriptedModel([answer("from big")])
    result = await orchestrator({"small": small, "big": big}, cascade=["small", "big"]).run(ONE_STEP, {"text": "hi"})
    step = result.step("say")
    assert step.output["text"] == "from big"
    assert step.model == "scripted:big" and not step.local
    assert step.escalated_from == ["scripted:small"]
    assert "invalid answer" in (step.escalation_reason or "")
    assert [a.outcome for a in step.attempts] == ["invalid", "invalid", "accepted"]


async def test_low_confidence_escalates() -> None:
    small, big = ScriptedModel([answer("unsure", 0.2)]), ScriptedModel([answer("sure", 0.9)])
    result = await orchestrator({"small": small, "big": big}, cascade=["small", "big"]).run(ONE_STEP, {"text": "hi"})
    step = result.step("say")
    assert step.output["text"] == "sure"
    assert [a.outcome for a in step.attempts] == ["low_confidence", "accepted"]
    assert "below threshold" in (step.escalation_reason or "")
    assert step.attempts[0].output == {"text": "unsure", "confidence": 0.2}  # the rejected answer, for evaluation
    assert step.attempts[1].output is None  # the accepted one is the step's output


async def test_no_escalation_past_confidential_input() -> None:
    small, big = ScriptedModel([answer("unsure", 0.2)]), ScriptedModel([answer("leak")])
    orch = orchestrator({"small": small, "big": big}, cascade=["small", "big"])
    result = await orch.run(ONE_STEP, {"text": "secret salary table"}, sensitivity={"text": "confidential"})
    step = result.step("say")
    assert big.calls == []
    assert step.status == "failed"
    assert [a.outcome for a in step.attempts] == ["low_confidence", "skipped_not_local"]
    assert result.status == "failed"


async def test_confidential_with_only_remote_models_fails_clearly() -> None:
    big = ScriptedModel([answer("x")])
    result = await orchestrator({"big": big}, cascade=["big"]).run(ONE_STEP, {"text": "secret"},
                                                                    sensitivity={"text": "confidential"})
    assert big.calls == []
    assert "no local model" in (result.step("say").error or "")


async def test_cost_arithmetic_matches_hand_computed_figures() -> None:
    small = ScriptedModel([answer("a", 0.1, 1000, 500)])
    big = ScriptedModel([answer("b", 0.9, 2000, 100)])
    result = await orchestrator({"small": small, "big": big}, cascade=["small", "big"]).run(ONE_STEP, {"text": "x"})
    step = result.step("say")
    # small is free; big: 2000 in * $1/M + 100 out * $2/M = $0.0022
    assert step.cost_usd == pytest.approx(0.0022)
    assert step.usage.input_tokens == 3000 and step.usage.output_tokens == 600
    # baseline: the accepted answer's tokens on the planner model: 2000 * $10/M + 100 * $30/M = $0.023
    assert step.baseline_cost_usd == pytest.approx(0.023)
    assert result.cost.cost_usd == pytest.approx(0.0022)
    assert result.cost.saving_usd == pytest.approx(0.023 - 0.0022)
    assert result.cost.baseline_model == "scripted:planner"
    assert result.cost.remote_steps == 1 and result.cost.local_steps == 0


async def test_failed_step_keeps_attempts_tokens_and_cost() -> None:
    small = ScriptedModel([tokens(400, 10), tokens(400, 10)])  # invalid, and invalid after repair
    big = ScriptedModel([answer("meh", 0.2, 2000, 100)])  # valid but below the threshold
    result = await orchestrator({"small": small, "big": big}, cascade=["small", "big"]).run(ONE_STEP, {"text": "x"})
    step = result.step("say")
    assert step.status == "failed" and result.status == "failed"
    assert [a.outcome for a in step.attempts] == ["invalid", "invalid", "low_confidence"]
    assert step.usage.input_tokens == 2800 and step.usage.output_tokens == 120
    # small is free; big: 2000 in * $1/M + 100 out * $2/M = $0.0022, paid though the step failed
    assert step.cost_usd == pytest.approx(0.0022)
    assert step.attempts[-1].cost_usd == pytest.approx(0.0022)
    # the all-planner run would have paid that request on the planner: 2000 * $10/M + 100 * $30/M
    assert step.baseline_cost_usd == pytest.approx(0.023)
    assert result.cost.cost_usd == pytest.approx(0.0022)
    assert result.cost.usage.total_tokens == 2920
    assert result.cost.saving_usd == pytest.approx(0.023 - 0.0022)


async def test_budget_stop_mid_step_keeps_the_step_attempts() -> None:
    small = ScriptedModel([answer("unsure", 0.2, 800, 300)])
    big = ScriptedModel([answer("sure")])
    orch = orchestrator({"small": small, "big": big}, cascade=["small", "big"], budget=Budget(max_tokens=1000))
    result = await orch.run(ONE_STEP, {"text": "go"})
    step = result.step("say")
    assert result.status == "budget_exceeded" and big.calls == []
    assert [(a.model, a.outcome) for a in step.attempts] == [("scripted:small", "low_confidence"),
                                                            ("scripted:big", "error")]
    assert "token budget exceeded: spent 1100 of 1000" in step.attempts[1].problems[0]
    assert step.usage.total_tokens == 1100 and result.cost.usage.total_tokens == 1100
    assert step.escalated_from == ["scripted:small"]
    assert "token budget exceeded" in (step.error or "")


async def test_budget_error_carries_the_partial_step_result() -> None:
    small = ScriptedModel([answer("unsure", 0.2, 800, 300)])
    orch = orchestrator({"small": small, "big": ScriptedModel()}, cascade=["small", "big"])
    guard = RunGuard()
    guard.ledger.budget = Budget(max_tokens=1000)
    echo = orch.registry.agent("echo")
    assert not isinstance(echo, Tool)
    with pytest.raises(BudgetExceeded) as info:
        await orch.router.run(echo, echo.Input(text="go"), step_id="say", instruction="",
                              sensitivity=Sensitivity.PUBLIC, guard=guard)
    partial = info.value.partial
    assert partial.step_id == "say" and partial.status == "failed"
    assert [a.outcome for a in partial.attempts] == ["low_confidence", "error"]
    assert partial.usage.total_tokens == 1100


async def test_budget_stops_further_calls_and_keeps_partial_results() -> None:
    small = ScriptedModel([answer("first", 1.0, 800, 300), answer("second")])
    plan = Plan.parse({"goal": "two", "steps": [
        {"id": "one", "agent": "echo", "inputs": {"text": "$input.text"}},
        {"id": "two", "agent": "echo", "inputs": {"text": "$steps.one.text"}},
    ]})
    orch = orchestrator({"small": small}, cascade=["small"], budget=Budget(max_tokens=1000))
    result = await orch.run(plan, {"text": "go"})
    assert result.status == "budget_exceeded"
    assert result.step("one").output["text"] == "first"  # partial result kept
    assert result.step("two").status == "failed"
    assert "token budget exceeded" in (result.step("two").error or "")
    assert len(small.calls) == 1  # the second call was never made


async def test_cost_budget_in_dollars() -> None:
    big = ScriptedModel([answer("a", 1.0, 100_000, 0), answer("b")])
    plan = Plan.parse({"goal": "two", "steps": [
        {"id": "one", "agent": "echo", "inputs": {"text": "$input.text"}},
        {"id": "two", "agent": "echo", "inputs": {"text": "$steps.one.text"}},
    ]})
    orch = orchestrator({"big": big}, cascade=["big"], budget=Budget(max_cost_usd=0.05))
    result = await orch.run(plan, {"text": "go"})  # first call costs $0.10
    assert result.status == "budget_exceeded"
    assert result.cost.cost_usd == pytest.approx(0.1)
    assert len(big.calls) == 1


def test_names_that_moved_out_of_the_router_still_import_with_a_warning() -> None:
    import orchestrator.engine.router as router
    from orchestrator.engine.guard import Ledger

    with pytest.warns(DeprecationWarning, match=r"moved to orchestrator\.engine\.guard\.Ledger"):
        assert router.Ledger is Ledger
    with pytest.warns(DeprecationWarning, match=r"orchestrator\.settings\.Budget"):
        assert router.Budget is Budget
    with pytest.raises(AttributeError):
        router.Nothing  # noqa: B018
