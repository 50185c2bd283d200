"""Spans of a run: the tree (run, plan, steps, fan-out items, model calls) and the GenAI attributes."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from orchestrator import telemetry
from orchestrator.errors import ModelError
from orchestrator.models import FunctionModel, ModelCall, ScriptedModel
from orchestrator.telemetry import metrics
from tests.engine.priced import answer, orchestrator

SECRET = "Patient Jane Roe, policy 99-1234-7777"
PLAN = {"goal": "g", "steps": [
    {"id": "greet", "agent": "echo", "inputs": {"text": "$input.note"}},
    {"id": "loud", "agent": "echo", "for_each": "$input.words", "inputs": {"text": "$item"}},
    {"id": "parse", "agent": "strict_parse", "inputs": {"text": "$input.record"}}],
    "output": {"greeting": "$steps.greet.text"}}


def _small(call: ModelCall) -> Any:
    """Unsure about the greeting (it escalates), sure about every word."""
    return answer("local " + call.last_user, 0.1 if call.last_user == "hello" else 0.9)


async def _run(**inputs: Any) -> Any:
    planner = ScriptedModel([PLAN])
    small = FunctionModel(_small, ref="scripted:small")
    big = ScriptedModel([answer("remote greeting").model_copy(update={"model": "scripted:big-0601"})], local=False)
    orch = orchestrator({"small": small, "big": big, "planner": planner}, cascade=["small", "big"])
    return await orch.run("Greet, shout and parse", {"note": "hello", "words": ["a", "b"], "record": SECRET,
                                                      **inputs},
                          sensitivity={"record": "confidential", "note": "public", "words": "public"})


def _tree(spans: list[ReadableSpan]) -> dict[str, list[str]]:
    """Each span's name -> its children's names (sorted)."""
    by_id = {s.context.span_id: s for s in spans}
    children: dict[str, list[str]] = {s.name: [] for s in spans}
    for s in spans:
        if s.parent is not None and s.parent.span_id in by_id:
            children[by_id[s.parent.span_id].name].append(s.name)
    return {name: sorted(kids) for name, kids in children.items()}


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _named(spans: list[ReadableSpan], name: str, **attributes: Any) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name and all((s.attributes or {}).get(k) == v for k, v in attributes.items())]


async def test_a_planned_run_is_one_tree_of_run_plan_steps_items_and_model_calls(spans: InMemorySpanExporter) -> None:
    result = await _run()
    assert result.step("greet").escalated and result.step("parse").status == "failed"
    finished = list(spans.get_finished_spans())
    assert len({s.context.trace_id for s in finished}) == 1
    tree = _tree(finished)
    assert tree["invoke_workflow task"] == sorted(["slm.plan", "invoke_agent echo", "invoke_agent echo",
                                                    "execute_tool strict_parse"])
    assert tree["slm.plan"] == ["chat planner"]
    greet, = _named(finished, "invoke_agent echo", **{"slm.step.id": "greet"})
    assert [s.name for s in finished if s.parent and s.parent.span_id == greet.context.span_id] == \
        ["chat small", "chat big"]
    loud = [s for s in _named(finished, "invoke_agent echo", **{"slm.step.id": "loud"})
            if "slm.step.item" not in (s.attributes or {})]
    items = _named(finished, "invoke_agent echo", **{"slm.step.id": "loud"})
    assert len(loud) == 1 and sorted(attrs(s)["slm.step.item"] for s in items if s not in loud) == [0, 1]
    assert all(s.parent and s.parent.span_id == loud[0].context.span_id for s in items if s not in loud)


async def test_spans_carry_the_genai_attributes_and_ours(spans: InMemorySpanExporter) -> None:
    await _run()
    finished = list(spans.get_finished_spans())
    run, = _named(finished, "invoke_workflow task")
    assert attrs(run)["gen_ai.operation.name"] == "invoke_workflow"
    assert attrs(run)["slm.run.kind"] == "task" and attrs(run)["slm.run.status"] == "failed"
    assert attrs(run)["slm.cost_usd"] > 0 and attrs(run)["gen_ai.usage.input_tokens"] > 0
    plan, = _named(finished, "slm.plan")
    assert attrs(plan)["slm.planner.model"] == "scripted:planner" and attrs(plan)["slm.plan.steps"] == 3
    greet, = _named(finished, "invoke_agent echo", **{"slm.step.id": "greet"})
    a = attrs(greet)
    assert a["gen_ai.operation.name"] == "invoke_agent" and a["gen_ai.agent.name"] == "echo"
    assert a["slm.model"] == "scripted:big" and a["slm.local"] is False
    assert a["slm.escalated_from"] == ("scripted:small",) and a["slm.sensitivity"] == "public"
    assert a["slm.step.status"] == "completed" and a["slm.confidence"] == 1.0
    assert [dict(e.attributes or {})["slm.attempt.outcome"] for e in greet.events] == ["low_confidence", "accepted"]
    big, = _named(finished, "chat big")
    assert attrs(big)["gen_ai.provider.name"] == "scripted"
    assert attrs(big)["gen_ai.request.model"] == "big" and attrs(big)["gen_ai.response.model"] == "big-0601"
    assert attrs(big)["gen_ai.usage.input_tokens"] == 1000 and attrs(big)["gen_ai.usage.output_tokens"] == 500
    assert attrs(big)["slm.cost_usd"] == 1000 / 1e6 * 1.0 + 500 / 1e6 * 2.0
    parse, = _named(finished, "execute_tool strict_parse")
    assert attrs(parse)["gen_ai.operation.name"] == "execute_tool"
    assert attrs(parse)["slm.step.status"] == "failed" and parse.status.status_code is StatusCode.ERROR
    assert attrs(parse)["slm.sensitivity"] == "confidential"


async def test_confidential_text_is_in_no_span_and_no_metric(spans: InMemorySpanExporter, prometheus: None) -> None:
    telemetry.enable_tracing(telemetry.tracing._STATE.provider, capture_content=True)  # content opted in
    result = await _run()
    assert SECRET[:20] in (result.step("parse").error or "")  # the tool's own error quotes the record...
    dumped = json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])
    assert "gen_ai.input.messages" in dumped  # ...content recording is on, for the public steps
    for fragment in ("Jane Roe", "99-1234-7777", SECRET):
        assert fragment not in dumped
        assert fragment not in metrics.exposition().decode()


async def test_content_is_not_recorded_unless_opted_in(spans: InMemorySpanExporter) -> None:
    await _run()
    dumped = json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])
    assert "gen_ai.input.messages" not in dumped and "hello" not in dumped


async def test_with_tracing_off_nothing_is_recorded() -> None:
    assert not telemetry.tracing_enabled()
    with telemetry.run_span("r", "wf", planned=False) as span:
        assert span is None
    assert telemetry.inject() is None


async def test_a_failing_model_call_records_its_error_type_not_its_message(spans: InMemorySpanExporter,
                                                                          prometheus: None) -> None:
    def leaky(call: ModelCall) -> Any:
        raise ModelError("scripted:small", f"cannot parse {call.last_user}")

    plan = {"goal": "g", "steps": [{"id": "read", "agent": "echo", "inputs": {"text": "$input.record"}}]}
    small = FunctionModel(leaky, ref="scripted:small")
    orch = orchestrator({"small": small, "planner": ScriptedModel([plan])}, cascade=["small"])
    result = await orch.run("Read it", {"record": SECRET}, sensitivity={"record": "confidential"})
    assert SECRET in (result.step("read").error or "")  # the step's own record keeps the reason...
    call, = [s for s in spans.get_finished_spans() if s.name == "chat small"]
    assert attrs(call)["error.type"] == "ModelError" and call.status.status_code is StatusCode.ERROR
    dumped = json.dumps([json.loads(s.to_json()) for s in spans.get_finished_spans()])
    assert "Jane Roe" not in dumped  # ...no span does
    failed = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "scripted", "gen_ai_request_model": "small",
              "error_type": "ModelError"}
    assert metrics.metric("gen_ai_client_operation_duration_seconds_count", failed) == 1
