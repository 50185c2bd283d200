"""The router tier: matching, input binding, the below-threshold error, the recorded tier."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import ConfigError, InputError, JobError, ModelError
from orchestrator.models import ScriptedModel
from orchestrator.planning import calibrate, keywords, split_request
from orchestrator.types import Event
from tests.planning.conftest import GOOD, deployment


class Events:
    def __init__(self) -> None:
        self.seen: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.seen.append(event)


def test_keywords_fold_paraphrases_and_keep_what_differs() -> None:
    assert keywords("Please summarise this report") == keywords("Give me a summary of the report")
    assert keywords("Summarize this report") != keywords("Translate this report")
    assert "translat" in keywords("translate the report into French")


def test_split_request_separates_the_payload() -> None:
    assert split_request("triage this: My card was charged twice") == ("triage this", "My card was charged twice")
    assert split_request("What is the total on this receipt?") == ("What is the total on this receipt?", None)
    long_lead = "word " * 20 + ": tail"
    assert split_request(long_lead)[1] is None  # a long sentence with a colon is all request


def test_calibrate_leaves_a_margin_below_the_lowest_accepted_score() -> None:
    scores = [0.9, 0.8, 0.6, 0.3, 0.2]
    correct = [True, True, True, False, False]
    assert calibrate(scores, correct) == pytest.approx(0.45)
    assert calibrate([0.4], [False]) is None  # nothing reaches the target: never route


async def test_a_free_form_task_routes_to_its_workflow_without_a_planner() -> None:
    orch, events = deployment(), Events()
    result = await orch.run("triage this support ticket", {"text": "my parcel is late"}, events=events)
    assert result.ok and result.planned_by == "router"
    assert result.answer == {"routed": "MY PARCEL IS LATE"}  # the one text input bound to `ticket`
    ready = next(e for e in events.seen if e.type == "plan.ready")
    assert ready.data["planned_by"] == "router"


async def test_binding_by_name_and_defaults() -> None:
    result = await deployment().run("what is the total on this invoice",
                                    {"document": "Total 12.50", "currency": "GBP"})
    assert result.planned_by == "router" and result.answer == {"total": "TOTAL 12.50", "currency": "GBP"}


async def test_binding_from_the_message_payload() -> None:
    result = await deployment().run("triage this ticket: the app crashes on start")
    assert result.answer == {"routed": "THE APP CRASHES ON START"}


async def test_chat_history_is_not_a_workflow_input() -> None:
    history = [{"role": "user", "content": "hello"}]
    result = await deployment().run("triage this ticket: refund please", {"history": history})
    assert result.ok and result.answer == {"routed": "REFUND PLEASE"}


async def test_inputs_the_workflow_does_not_have_are_refused_clearly() -> None:
    with pytest.raises(InputError, match=r"routed to workflow 'triage_mail'.*no input 'colour'"):
        await deployment().run("triage this ticket", {"text": "x", "colour": "red"})


async def test_below_threshold_without_planner_names_the_closest_workflows() -> None:
    with pytest.raises(ConfigError) as caught:
        await deployment().run("write a poem about autumn leaves", {"text": "x"})
    message = str(caught.value)
    assert "closest: triage_mail (0." in message or "closest: read_invoice (0." in message
    assert "no planner model is configured" in message and "[planner] model" in message


async def test_below_threshold_goes_to_the_planner_when_there_is_one() -> None:
    planner = ScriptedModel([GOOD], local=False)
    result = await deployment(planner).run("write a poem about autumn leaves", {"text": "x"})
    assert result.ok and result.planned_by == "planner" and len(planner.calls) == 1


@pytest.mark.parametrize("task", ["translate this support ticket into French", "draft a reply to this ticket"])
async def test_a_look_alike_asking_for_another_output_is_not_routed(task: str) -> None:
    planner = ScriptedModel([GOOD], local=False)
    result = await deployment(planner).run(task, {"text": "my parcel is late"})
    assert result.planned_by == "planner"  # the router knows no "translate"/"draft": not ticket triage


async def test_router_off_falls_through_to_the_planner() -> None:
    planner = ScriptedModel([GOOD], local=False)
    result = await deployment(planner, router=False).run("triage this ticket", {"text": "x"})
    assert result.planned_by == "planner"


async def test_workflows_and_plans_record_their_source() -> None:
    orch = deployment()
    by_name = await orch.run("triage_mail", {"ticket": "x"})
    assert by_name.planned_by == "workflow"
    from orchestrator.plan import Plan

    given: dict[str, Any] = GOOD
    assert (await orch.run(Plan.parse(given), {"text": "x"})).planned_by == "plan"


async def test_submitted_free_form_jobs_are_routed_or_fail_with_their_reason() -> None:
    orch = deployment()
    routed = await (await orch.submit("triage this ticket", {"text": "late parcel"})).result(timeout=30)
    assert routed.ok and routed.planned_by == "router"
    handle = await orch.submit("write a poem about autumn leaves", {"text": "x"})  # accepted: a worker decides
    with pytest.raises(JobError, match=r"failed: ConfigError: .*no workflow fits"):  # recorded with its reason
        await handle.result(timeout=30)
    await orch.aclose()



def broken_embedder() -> ScriptedModel:
    """An embedding model whose ``embed`` raises ModelError."""
    model = ScriptedModel([], ref="scripted:embed")
    model.capabilities.embeddings = False
    return model


async def test_a_failing_embedder_leaves_the_task_to_the_planner() -> None:
    planner = ScriptedModel([GOOD], local=False)
    result = await deployment(planner, embed=broken_embedder()).run("triage this ticket", {"text": "x"})
    assert result.ok and result.planned_by == "planner"
    with pytest.raises(ModelError, match="does not embed"):  # with no planner, the router's failure is the answer
        await deployment(embed=broken_embedder()).run("triage this ticket", {"text": "x"})
