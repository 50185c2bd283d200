"""The planner: catalog in the prompt, the repair loop, replanning, and clear errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import ConfigError, PlanError, UnknownNameError
from orchestrator.models import Completion, ModelSpec, ScriptedModel, Usage
from orchestrator.settings import Budget, Settings
from orchestrator.specialist import SpecialistConfig
from tests.engine.agents import Echo, make_registry

GOOD = {"goal": "g", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "$input.text"}}],
        "output": {"said": "$steps.say.text"}}
BAD = {"goal": "g", "steps": [{"id": "say", "agent": "shout", "inputs": {"text": "$input.missing"}}]}


def build(planner: ScriptedModel, small: ScriptedModel, **planner_settings: Any) -> Orchestrator:
    settings = Settings(models={"planner": ModelSpec(ref="scripted:planner"), "small": ModelSpec(ref="scripted:s")},
                        planner={"model": "planner", **planner_settings})
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small"])))
    return Orchestrator(settings, registry=registry, models={"planner": planner, "small": small})


async def test_planner_sees_catalog_and_schema() -> None:
    planner, small = ScriptedModel([GOOD]), ScriptedModel([{"text": "hi!"}])
    result = await build(planner, small).run("Say hi", {"text": "hi"})
    assert result.ok and result.answer == {"said": "hi!"}
    call = planner.calls[0]
    assert '"agent": "echo"' in call.prompt and '"agent": "sleep"' in call.prompt
    assert call.schema is not None and "steps" in call.schema["properties"]
    planner.assert_complete()


async def test_invalid_plan_is_fed_back_and_repaired() -> None:
    planner, small = ScriptedModel([BAD, GOOD]), ScriptedModel([{"text": "ok"}])
    result = await build(planner, small).run("Say hi", {"text": "hi"})
    assert result.ok
    feedback = planner.calls[1].last_user
    assert "unknown agent 'shout'" in feedback
    assert "unknown input 'missing'" in feedback
    assert "choose one of: echo, sleep" in feedback


async def test_planner_gives_up_after_bounded_repairs() -> None:
    planner = ScriptedModel([BAD, BAD, "not even json"])
    result = await build(planner, ScriptedModel(), max_repairs=2).run("Say hi", {"text": "hi"})
    assert result.status == "failed"
    assert "no valid plan after 3 attempts" in (result.error or "")
    assert len(planner.calls) == 3


async def test_replan_once_after_a_failed_step() -> None:
    failing = {"goal": "g", "steps": [{"id": "wait", "agent": "sleep", "params": {"fail": True}}]}
    planner, small = ScriptedModel([failing, GOOD]), ScriptedModel([{"text": "second try"}])
    result = await build(planner, small, replan=True).run("Say hi", {"text": "hi"})
    assert result.replanned and result.ok
    assert result.answer == {"said": "second try"}
    assert "steps failed" in planner.calls[1].last_user and "asked to fail" in planner.calls[1].last_user


async def test_free_form_task_without_planner_says_how_to_configure() -> None:
    registry, _ = make_registry()
    orch = Orchestrator(Settings(), registry=registry)
    with pytest.raises(ConfigError, match="need a planner model"):
        await orch.run("Summarise this quarterly report please", {"text": "x"})
    with pytest.raises(UnknownNameError, match="unknown workflow 'ticket_triage'"):
        await orch.run("ticket_triage", {"text": "x"})  # an identifier is a workflow name, not a task
    with pytest.raises(ConfigError, match="need a planner model"):
        await orch.run("summarise", {"text": "x"})  # a one-word task still needs the planner


async def test_plan_only() -> None:
    planner = ScriptedModel([GOOD])
    plan = await build(planner, ScriptedModel()).plan("Say hi", {"text": "hi"})
    assert [s.agent for s in plan.steps] == ["echo"]


async def test_plan_error_lists_every_problem() -> None:
    from orchestrator.plan import Plan

    with pytest.raises(PlanError) as info:
        Plan.parse(BAD, catalog=["echo"], inputs=["text"])
    assert len(info.value.problems) == 2


PRICED = {"planner": ModelSpec(ref="scripted:planner", local=False, price_input=10.0, price_output=30.0),
          "small": ModelSpec(ref="scripted:s")}


def reply(value: Any, input_tokens: int, output_tokens: int) -> Completion:
    text = value if isinstance(value, str) else json.dumps(value)
    return Completion(text=text, usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


def priced(planner: ScriptedModel, small: ScriptedModel, budget: Budget | None = None,
           replan: bool = False) -> Orchestrator:
    settings = Settings(models=PRICED, planner={"model": "planner", "replan": replan}, budget=budget or Budget())
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small"])))
    return Orchestrator(settings, registry=registry, models={"planner": planner, "small": small})


async def test_planned_run_counts_the_planner_in_tokens_cost_baseline_and_saving() -> None:
    planner = ScriptedModel([reply(GOOD, 3000, 500)])
    small = ScriptedModel([reply({"text": "hi!"}, 1000, 200)])
    result = await priced(planner, small).run("Say hi", {"text": "hi"})
    assert result.ok
    cost = result.cost
    assert cost.usage.input_tokens == 4000 and cost.usage.output_tokens == 700  # planner 3500 + step 1200
    # planner: 3000 * $10/M + 500 * $30/M = $0.045; the step ran on the free local model
    assert cost.cost_usd == pytest.approx(0.045)
    # baseline: the planner's own $0.045 + the step's tokens at planner prices (1000 * $10/M + 200 * $30/M)
    assert cost.baseline_cost_usd == pytest.approx(0.045 + 0.016)
    assert cost.saving_usd == pytest.approx(0.016)
    assert cost.saving_ratio == pytest.approx(0.016 / 0.061)


async def test_planner_over_budget_ends_the_run_budget_exceeded() -> None:
    # The first plan is invalid and costs $0.045 of a $0.01 budget: its repair is never asked for.
    planner = ScriptedModel([reply(BAD, 3000, 500), GOOD])
    result = await priced(planner, ScriptedModel(), Budget(max_cost_usd=0.01)).run("Say hi", {"text": "hi"})
    assert result.status == "budget_exceeded"
    assert "cost (USD) budget exceeded" in (result.error or "")
    assert len(planner.calls) == 1
    assert result.cost.cost_usd == pytest.approx(0.045) and result.cost.usage.total_tokens == 3500


async def test_replanning_over_budget_keeps_the_first_phase() -> None:
    failing = {"goal": "g", "steps": [
        {"id": "say", "agent": "echo", "inputs": {"text": "$input.text"}},
        {"id": "wait", "agent": "sleep", "params": {"fail": True}}]}
    planner = ScriptedModel([reply(failing, 3000, 500), GOOD])
    small = ScriptedModel([reply({"text": "said"}, 400, 200)])  # 3500 + 600 tokens: now over 4000
    orch = priced(planner, small, Budget(max_tokens=4000), replan=True)
    result = await orch.run("Say hi", {"text": "hi"})
    assert result.status == "budget_exceeded" and not result.replanned
    assert "token budget exceeded: spent 4100 of 4000" in (result.error or "")
    assert len(planner.calls) == 1  # the replan request was never sent
    assert result.step("say").output == {"text": "said", "confidence": 1.0}  # partial results kept
    assert result.step("wait").status == "failed"


async def test_a_planned_fan_out_runs_one_step_per_item() -> None:
    """The planner is told how to fan out, and a plan that does runs its agent once per item."""
    fan_out = {"goal": "g", "steps": [{"id": "say", "agent": "echo", "for_each": "$input.lines",
                                       "inputs": {"text": "$item"}}],
               "output": {"said": "$steps.say.*.text"}}
    planner = ScriptedModel([fan_out])
    small = ScriptedModel([{"text": "ONE"}, {"text": "TWO"}, {"text": "THREE"}])
    result = await build(planner, small).run("Shout each line", {"lines": ["one", "two", "three"]})
    assert result.ok, result.error
    assert sorted(result.answer["said"]) == ["ONE", "THREE", "TWO"]
    assert sorted(call.last_user for call in small.calls) == ["one", "three", "two"]
    assert '"for_each"' in planner.calls[0].prompt and "$item" in planner.calls[0].prompt
    small.assert_complete()


async def test_replanning_happens_once_only() -> None:
    failing = {"goal": "g", "steps": [{"id": "wait", "agent": "sleep", "params": {"fail": True}}]}
    planner = ScriptedModel([failing, failing, GOOD])
    result = await build(planner, ScriptedModel(), replan=True).run("Say hi", {"text": "hi"})
    assert result.status == "failed"
    assert len(planner.calls) == 2  # the plan and one replan; the second failure is final
    assert planner.remaining == 1
