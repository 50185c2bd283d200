"""Cascades, repair, escalation, sensitivity, budgets and cost, on scripted models."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.router import GuardedModel, ModelPool, RunGuard
from orchestrator.errors import BudgetExceeded
from orchestrator.models import Completion, ModelSpec, ScriptedModel, Usage
from orchestrator.models.base import Model
from orchestrator.plan import Plan
from orchestrator.settings import Budget, Settings
from orchestrator.specialist import SpecialistConfig, Tool
from orchestrator.types import Sensitivity
from tests.engine.agents import Echo, make_registry

PRICED = {
    "small": ModelSpec(ref="scripted:small", local=True),
    "big": ModelSpec(ref="scripted:big", local=False, price_input=1.0, price_output=2.0),
    "planner": ModelSpec(ref="scripted:planner", local=False, price_input=10.0, price_output=30.0),
}


def answer(text: str, confidence: float = 1.0, input_tokens: int = 1000, output_tokens: int = 500) -> Completion:
    return Completion(text=f'{{"text": "{text}", "confidence": {confidence}}}',
                      usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


def orchestrator(clients: dict[str, Model], *, cascade: list[str], threshold: float = 0.5,
                 budget: Budget | None = None, planner: str | None = "planner", replan: bool = False) -> Orchestrator:
    settings = Settings(models=PRICED, planner={"model": planner, "replan": replan},
                        budget=budget or Budget(), default_sensitivity="internal")
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=cascade, threshold=threshold)))
    registry.add(StrictParse())
    return Orchestrator(settings, registry=registry, models=clients)


class ParseIn(BaseModel):
    text: str


class ParseOut(BaseModel):
    fields: dict[str, str]


class StrictParse(Tool[ParseIn, ParseOut]):
    """A tool whose error quotes its input, as many real parsers' errors do."""

    name = "strict_parse"
    description = "Parses 'key: value' lines."
    Input = ParseIn
    Output = ParseOut

    def run(self, request: ParseIn) -> ParseOut:
        raise ValueError(f"no 'key: value' line in {request.text[:20]!r}")


def tokens(input_tokens: int, output_tokens: int, text: str = "nope") -> Completion:
    return Completion(text=text, usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


ONE_STEP = Plan.parse({"goal": "echo", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "$input.text"}}]})


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


def _plan_reply(**_: Any) -> dict[str, Any]:
    return {"goal": "summarise", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "$input.record"}}],
            "output": {"summary": "$steps.say.text"}}


SECRET = "Patient Jane Roe, born 1961-04-02, diagnosis: stage II melanoma, policy 99-1234-7777"
SECRET_FRAGMENTS = ("Jane Roe", "melanoma", "99-1234-7777", "1961-04-02")


def assert_nothing_confidential(requests: list[str]) -> None:
    for prompt in requests:
        assert SECRET not in prompt
        for fragment in SECRET_FRAGMENTS:
            assert fragment not in prompt


async def test_no_confidential_text_reaches_any_non_local_model() -> None:
    """Every request to a non-local model (the planner's too) is recorded and searched."""
    secret = SECRET
    planner = ScriptedModel([_plan_reply()])
    small = ScriptedModel([answer("unsure summary", 0.1)])
    big = ScriptedModel([answer("remote summary")])
    orch = orchestrator({"small": small, "big": big, "planner": planner}, cascade=["small", "big"])
    result = await orch.run("Summarise the patient record", {"record": secret, "note": "public note"},
                            sensitivity={"record": "confidential", "note": "public"})
    remote_requests = [call.prompt for model in (planner, big) for call in model.calls]
    assert planner.calls, "the planner was asked"
    assert big.calls == []
    assert_nothing_confidential(remote_requests)
    assert "confidential" in planner.calls[0].prompt and str(len(secret)) in planner.calls[0].prompt
    assert "public note" in planner.calls[0].prompt  # public inputs are previewed
    assert result.step("say").status == "failed"  # the only local answer was below threshold


async def test_no_confidential_text_reaches_the_cloud_with_replan_and_escalation() -> None:
    """A confidential step fails with an error quoting its input, a public step escalates to the
    cloud, and the planner is asked to replan: no non-local request carries confidential text."""
    first = {"goal": "g", "steps": [
        {"id": "parse", "agent": "strict_parse", "inputs": {"text": "$input.record"}},
        {"id": "greet", "agent": "echo", "inputs": {"text": "$input.note"}}],
        "output": {"greeting": "$steps.greet.text"}}
    second = {"goal": "g", "steps": [{"id": "again", "agent": "echo", "inputs": {"text": "$input.note"}}],
              "output": {"greeting": "$steps.again.text"}}
    planner = ScriptedModel([first, second])
    small = ScriptedModel([answer("unsure greeting", 0.1), answer("local greeting")])
    big = ScriptedModel([answer("remote greeting")])
    orch = orchestrator({"small": small, "big": big, "planner": planner}, cascade=["small", "big"], replan=True)
    result = await orch.run("Parse the record and greet", {"record": SECRET, "note": "public note"},
                            sensitivity={"record": "confidential", "note": "public"})
    assert result.replanned and result.ok, result.error
    assert result.step("greet").model == "scripted:big"  # the public step really went to the cloud
    assert [c.last_user for c in big.calls] == ["public note"]
    assert "Patient Jane Roe" in (result.step("parse").error or "")  # the error does quote the record...
    replan_request = planner.calls[1].prompt
    assert "steps failed" in replan_request and '"step": "parse"' in replan_request
    assert "details withheld" in replan_request  # ...but the planner only hears that it failed
    assert_nothing_confidential([call.prompt for model in (planner, big) for call in model.calls])


async def test_guard_blocks_confidential_values_leaking_through_a_prompt() -> None:
    """Even a specialist that copies confidential text into a non-confidential step is stopped."""
    big = ScriptedModel([answer("x")])
    orch = orchestrator({"big": big}, cascade=["big"])
    plan = Plan.parse({"goal": "leak", "steps": [
        {"id": "say", "agent": "echo", "inputs": {"text": "$input.note", "extra": "prefix"}}]})
    secret = "account 4421-9983-1120 belongs to R. Castillo"
    # "note" is public, but its content contains a confidential input's value verbatim.
    result = await orch.run(plan, {"note": f"see {secret}", "record": secret},
                            sensitivity={"note": "public", "record": "confidential"})
    assert big.calls == []
    assert "confidential" in (result.step("say").error or "")


async def test_pii_is_redacted_before_a_non_local_model() -> None:
    big = ScriptedModel([answer("done")])
    settings = Settings(models=PRICED, redact_for_remote=True, default_sensitivity="internal")
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["big"])))
    orch = Orchestrator(settings, registry=registry, models={"big": big})
    result = await orch.run(ONE_STEP, {"text": "Mail jane.doe@example.com or call +44 20 7946 0321 about card "
                                               "4111 1111 1111 1111"})
    assert result.ok
    sent = big.calls[0].prompt
    assert "jane.doe@example.com" not in sent and "4111 1111 1111 1111" not in sent
    assert "[EMAIL_1]" in sent and "[CARD_1]" in sent


async def test_local_models_see_the_original_text_when_redaction_is_on() -> None:
    small = ScriptedModel([answer("done")])
    settings = Settings(models=PRICED, redact_for_remote=True)
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["small"])))
    orch = Orchestrator(settings, registry=registry, models={"small": small})
    await orch.run(ONE_STEP, {"text": "Mail jane.doe@example.com"})
    assert "jane.doe@example.com" in small.calls[0].prompt


async def test_pii_is_redacted_before_a_non_local_model_embeds() -> None:
    from orchestrator.tools.pii import redact

    big, small = ScriptedModel(ref="scripted:big", local=False), ScriptedModel(ref="scripted:small")
    pool = ModelPool(PRICED, {"big": big, "small": small})
    guard = RunGuard(redact=lambda text: redact(text).text)
    text = "Mail jane.doe@example.com about card 4111 1111 1111 1111"
    for name in ("big", "small"):
        await GuardedModel(name, pool, guard, sensitivity=Sensitivity.PUBLIC).embed([text])
    assert big.embed_calls == [("Mail [EMAIL_1] about card [CARD_1]",)]
    assert small.embed_calls == [(text,)]  # local models see the original
