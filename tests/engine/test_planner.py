"""The planner: catalog in the prompt, the repair loop, replanning, and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.app import Orchestrator
from orchestrator.errors import ConfigError, PlanError, UnknownNameError
from orchestrator.models import ModelSpec, ScriptedModel
from orchestrator.settings import Settings
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
