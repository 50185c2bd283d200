"""The guard: confidential data only reaches local models, PII is redacted before non-local ones,
and every request (completion, embedding, scoring) passes the same privacy, budget and
concurrency checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.guard import GuardedModel, RunGuard, may_receive
from orchestrator.engine.registry import Registry
from orchestrator.errors import BudgetExceeded, ConfigError, ModelError, PrivacyViolation
from orchestrator.models import FunctionModel, ModelSpec, ScoreCall, ScriptedModel
from orchestrator.models.base import Capabilities, Usage, user
from orchestrator.models.pool import ModelPool
from orchestrator.plan import Plan
from orchestrator.settings import Budget, Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.types import Sensitivity
from tests.engine.agents import Echo, make_registry
from tests.engine.priced import ONE_STEP, PRICED, answer, orchestrator


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


# -- the rule, in one function ----------------------------------------------------------------


def test_only_local_models_may_receive_confidential_data() -> None:
    local, remote = ModelSpec(ref="scripted:small", local=True), ModelSpec(ref="scripted:big", local=False)
    assert may_receive(local, Sensitivity.CONFIDENTIAL)
    assert not may_receive(remote, Sensitivity.CONFIDENTIAL)
    assert may_receive(remote, Sensitivity.INTERNAL) and may_receive(remote, Sensitivity.PUBLIC)


# -- scoring is part of the model contract, and guarded like complete/embed ----------------------


def scoring_pool(**clients: ScriptedModel | FunctionModel) -> ModelPool:
    return ModelPool(PRICED, clients)


async def test_scripted_scores_pass_through_the_guard_and_are_charged() -> None:
    small = ScriptedModel(ref="scripted:small", scores=[[-0.5, -2.5], {" no": -0.1}])
    guard = RunGuard()
    model = GuardedModel("small", scoring_pool(small=small), guard, sensitivity=Sensitivity.INTERNAL)
    assert model.capabilities.scoring
    assert await model.score("Is it late? Answer:", [" yes", " no"]) == [-0.5, -2.5]
    chosen, probability = await model.choose("Is it late? Answer:", [" yes", " no"])
    assert chosen == " no" and probability > 0.99  # " yes" was not scored: -inf
    assert small.score_calls == [ScoreCall("Is it late? Answer:", (" yes", " no"))] * 2
    assert model.usage.input_tokens > 0 and guard.ledger.usage == model.usage  # scoring reads tokens
    small.assert_complete()


async def test_a_confidential_step_is_never_scored_on_a_non_local_model() -> None:
    """The classifier scores labels by log-likelihood; the cloud model could too, but is skipped."""
    from orchestrator.agents.classifier import Classifier, ClassifierInput

    cloud = ScriptedModel(ref="scripted:big", local=False, scores=[[-0.1, -5.0]])
    small = ScriptedModel(ref="scripted:small", scores=[[-5.0, -0.1]])
    router = Orchestrator(Settings(models=PRICED), registry=Registry(), models={"big": cloud, "small": small}).router
    classifier = Classifier(SpecialistConfig(cascade=["big", "small"], threshold=0.5))
    request = ClassifierInput.model_validate({"text": "Patient Jane Roe asks about her bill", "labels": ["a", "b"]})
    result = await router.run(classifier, request, step_id="classify", instruction="",
                              sensitivity=Sensitivity.CONFIDENTIAL, guard=RunGuard())
    assert result.status == "completed" and result.model == "scripted:small"
    assert result.output is not None and result.output["label"] == "b"
    assert [a.outcome for a in result.attempts] == ["skipped_not_local", "accepted"]
    assert cloud.score_calls == [] and cloud.calls == []
    assert small.score_calls and small.calls == []  # scored, not generated


@pytest.mark.parametrize("method", ["score", "choose"])
async def test_the_guard_refuses_to_score_confidential_data_on_a_non_local_model(method: str) -> None:
    cloud = ScriptedModel(ref="scripted:big", local=False, scores=[[-0.1, -5.0]])
    guard = RunGuard()
    secret = "account 4421-9983-1120 belongs to R. Castillo"
    guard.confidential.add(secret)
    pool = scoring_pool(big=cloud)
    confidential = GuardedModel("big", pool, guard, sensitivity=Sensitivity.CONFIDENTIAL, step_id="s")
    with pytest.raises(PrivacyViolation):
        await getattr(confidential, method)("Which is it?", [" a", " b"])
    leaking = GuardedModel("big", pool, guard, sensitivity=Sensitivity.PUBLIC, step_id="s")
    with pytest.raises(PrivacyViolation):  # a public step whose prompt (or an option) carries the value
        await getattr(leaking, method)("Which is it?", [" a", f" {secret}"])
    assert cloud.score_calls == []


async def test_scoring_prompts_and_options_are_redacted_for_non_local_models() -> None:
    cloud = ScriptedModel(ref="scripted:big", local=False, scores=[[-3.0, -0.2]])
    guard = RunGuard(redact=Registry().redactor())
    model = GuardedModel("big", scoring_pool(big=cloud), guard, sensitivity=Sensitivity.PUBLIC)
    options = [" jane.doe@example.com", " 4111 1111 1111 1111"]
    chosen, _ = await model.choose("Mail jane.doe@example.com. Which one is the card?", options)
    assert chosen == " 4111 1111 1111 1111"  # the caller gets its own option back...
    call = cloud.score_calls[0]  # ...the model only saw placeholders
    assert call.prompt == "Mail [EMAIL_1]. Which one is the card?"
    assert call.options == (" [EMAIL_1]", " [CARD_1]")


async def test_scoring_stops_at_the_budget_before_the_call() -> None:
    small = ScriptedModel(ref="scripted:small", scores=[[-0.1]])
    guard = RunGuard()
    guard.ledger.budget = Budget(max_tokens=10)
    guard.ledger.charge(Usage(input_tokens=10), 0.0)
    model = GuardedModel("small", scoring_pool(small=small), guard, sensitivity=Sensitivity.PUBLIC)
    with pytest.raises(BudgetExceeded):
        await model.score("prompt", [" a"])
    assert small.score_calls == []


async def test_scoring_waits_for_the_models_concurrency_limit() -> None:
    in_flight, peak = 0, 0

    async def scorer(call: ScoreCall) -> list[float]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return [-1.0] * len(call.options)

    one_at_a_time = ModelSpec(name="solo", ref="function:solo", concurrency=1)
    solo = FunctionModel(lambda call: "", ref="function:solo", scorer=scorer)
    pool = ModelPool({"solo": one_at_a_time}, {"solo": solo})
    models = [GuardedModel("solo", pool, RunGuard(), sensitivity=Sensitivity.PUBLIC) for _ in range(4)]
    await asyncio.gather(*(m.score("p", [" a", " b"]) for m in models))
    assert len(solo.score_calls) == 4 and peak == 1


async def test_a_model_that_does_not_score_says_so_and_nothing_else_is_forwarded() -> None:
    plain = ScriptedModel(ref="scripted:small")
    model = GuardedModel("small", scoring_pool(small=plain), RunGuard(), sensitivity=Sensitivity.PUBLIC)
    assert not model.capabilities.scoring
    with pytest.raises(ModelError, match="does not score"):
        await model.score("p", [" a"])
    with pytest.raises(AttributeError):
        model.add  # noqa: B018  (a ScriptedModel method: the guard forwards only the Model contract)
    assert plain.score_calls == []


# -- the redactor comes through the registry -------------------------------------------------------


async def test_the_redactor_is_the_installed_redact_pii_tool() -> None:
    redact = Registry().redactor()  # a hand-built registry falls back to the installed tool
    assert await redact("write to jane.doe@example.com") == "write to [EMAIL_1]"
    assert await Registry.from_entry_points().redactor()("card 4111 1111 1111 1111") == "card [CARD_1]"


async def test_a_registered_redact_pii_tool_replaces_the_redaction() -> None:
    from orchestrator.tools.pii import RedactPII, RedactPIIInput, RedactPIIOutput

    class Shout(RedactPII):
        def run(self, request: RedactPIIInput) -> RedactPIIOutput:
            return RedactPIIOutput(text=request.text.upper(), found={})

    big = ScriptedModel([answer("done")])
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["big"])))
    registry.add(Shout())
    settings = Settings(models=PRICED, redact_for_remote=True, default_sensitivity="internal")
    result = await Orchestrator(settings, registry=registry, models={"big": big}).run(ONE_STEP, {"text": "hi"})
    assert result.ok and big.calls[0].last_user == "HI"


def test_a_redactor_tool_must_read_and_write_text() -> None:
    registry, _ = make_registry()
    with pytest.raises(ConfigError, match="'text' field") as info:
        registry.redactor("sleep")
    assert info.value.key == "redact_for_remote"
    with pytest.raises(ConfigError, match="not registered"):
        registry.redactor("no_such_tool")


def test_capabilities_declare_scoring_off_by_default() -> None:
    assert not Capabilities().scoring
    assert ScriptedModel(scores=[]).capabilities.scoring



def test_the_engine_reaches_the_redactor_without_importing_tools() -> None:
    import ast
    from pathlib import Path

    import orchestrator.engine

    plugins = ("orchestrator.tools", "orchestrator.agents")
    for path in Path(orchestrator.engine.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith(plugins) for n in names), f"{path.name} imports {names} (layer 3 -> 2)"


async def test_a_replicated_model_gets_a_try_per_replica_within_the_calls_deadline() -> None:
    """A replicated model fails over instead of retrying: the deadline counts a try per endpoint."""
    urls = [f"http://127.0.0.1:{port}/v1" for port in (8081, 8082, 8083)]
    spec = ModelSpec(ref="openai:small", timeout=0.5, retries=0, options={"endpoints": urls})
    slow = FunctionModel(lambda call: "late but fine", ref="openai:small", delay=0.7)  # > one try's 0.5 s
    pool = ModelPool({"small": spec}, clients={"small": slow})
    model = GuardedModel("small", pool, RunGuard(), sensitivity=Sensitivity.PUBLIC)
    assert (await model.complete([user("hi")])).text == "late but fine"
