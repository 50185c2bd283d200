"""Plan validation (each rule), references, ordering, and the workflow DSL."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import InputError, PlanError
from orchestrator.plan import MAX_STEPS, Plan, Reference, resolve
from orchestrator.workflow import Input, Workflow


def step(id: str, agent: str = "a", **inputs: Any) -> dict[str, Any]:
    return {"id": id, "agent": agent, "inputs": inputs}


def problems(data: dict[str, Any], **kw: Any) -> list[str]:
    with pytest.raises(PlanError) as info:
        Plan.parse(data, **kw)
    return info.value.problems


def test_valid_plan_derives_dependencies() -> None:
    plan = Plan.parse({"goal": "g", "steps": [step("x", t="$input.doc"), step("y", t=["$steps.x.label", 3])]})
    assert plan.step_map["y"].depends_on == {"x"}
    assert plan.step_map["x"].input_names == {"doc"}
    assert [s.id for s in plan.topological_order()] == ["x", "y"]


def test_duplicate_ids() -> None:
    assert any("used twice" in p for p in problems({"goal": "g", "steps": [step("x"), step("x")]}))


def test_unknown_agent_names_alternatives() -> None:
    found = problems({"goal": "g", "steps": [step("x", "nope")]}, catalog=["a", "b"])
    assert found == ["step 'x' uses unknown agent 'nope'; choose one of: a, b"]


def test_unknown_step_reference() -> None:
    found = problems({"goal": "g", "steps": [step("x", t="$steps.ghost.label")]})
    assert "references unknown step 'ghost'" in found[0]


def test_unknown_input_reference() -> None:
    found = problems({"goal": "g", "steps": [step("x", t="$input.nope")]}, inputs=["doc"])
    assert "unknown input 'nope'" in found[0] and "available inputs: doc" in found[0]


def test_malformed_reference() -> None:
    assert "malformed reference" in problems({"goal": "g", "steps": [step("x", t="$steps.")]})[0]


def test_self_reference() -> None:
    assert "references itself" in problems({"goal": "g", "steps": [step("x", t="$steps.x.a")]})[0]


def test_cycle_is_named() -> None:
    found = problems({"goal": "g", "steps": [step("a", t="$steps.c"), step("b", t="$steps.a"),
                                               step("c", t="$steps.b")]})
    assert found == ["the steps form a cycle (a -> c -> b -> a); a step may only reference steps that do not "
                     "depend on it"]


def test_step_limit() -> None:
    many = {"goal": "g", "steps": [step(f"s{i}") for i in range(MAX_STEPS + 1)]}
    assert f"use at most {MAX_STEPS}" in problems(many)[0]
    assert "use at most 3" in problems({"goal": "g", "steps": [step(f"s{i}") for i in range(4)]}, max_steps=3)[0]


def test_empty_plan_and_bad_ids_and_bad_output() -> None:
    assert "no steps" in problems({"goal": "g", "steps": []})[0]
    assert "must start with a letter" in problems({"goal": "g", "steps": [step("1x")]})[0]
    found = problems({"goal": "g", "steps": [step("x")], "output": {"a": "$steps.y.z"}})
    assert found[0].startswith("output references unknown step 'y'")


def test_structural_errors_become_plan_errors() -> None:
    assert problems({"steps": "nope"}) == ["goal: Field required", "steps: Input should be a valid list"]
    assert problems("not json")[0].startswith("plan: Invalid JSON")  # type: ignore[arg-type]


def test_json_schema_for_structured_output() -> None:
    schema = Plan.json_schema()
    assert set(schema["properties"]) == {"goal", "steps", "output"}


def test_resolve_nested_references() -> None:
    value = resolve({"a": "$input.doc.title", "b": ["$steps.x.labels.1", "plain"], "c": "$steps.x"},
                    {"doc": {"title": "T"}}, {"x": {"labels": ["p", "q"]}})
    assert value == {"a": "T", "b": ["q", "plain"], "c": {"labels": ["p", "q"]}}
    with pytest.raises(KeyError, match="no field 'missing'"):
        resolve("$steps.x.missing", {}, {"x": {}})
    assert str(Reference.parse("$steps.x.a.b")) == "$steps.x.a.b"


def test_default_answer_is_the_leaf_steps() -> None:
    plan = Plan.parse({"goal": "g", "steps": [step("x"), step("y", t="$steps.x"), step("z")]})
    assert plan.answer_refs() == {"y": "$steps.y", "z": "$steps.z"}


def test_workflow_compiles_to_plan() -> None:
    wf = Workflow("demo", "A demo",
                  inputs={"doc": Input(str, "a document"), "n": Input(int, required=False, default=3)})
    kind = wf.step("kind", "classifier", text=wf.input.doc, params={"labels": ["a", "b"]})
    gist = wf.step("gist", "summarizer", text=wf.input.doc, max_words=wf.input.n)
    wf.step("route", "router", label=kind.label, title=kind["title"])
    wf.output(label=kind.label, summary=gist.summary)
    plan = wf.compile(catalog=["classifier", "summarizer", "router"])
    assert plan.step_map["route"].inputs == {"label": "$steps.kind.label", "title": "$steps.kind.title"}
    assert plan.step_map["route"].depends_on == {"kind"}
    assert plan.output == {"label": "$steps.kind.label", "summary": "$steps.gist.summary"}
    assert wf.bind({"doc": "text"}) == {"doc": "text", "n": 3}
    assert wf.bind({"doc": "text", "n": "5"})["n"] == 5


def test_workflow_input_errors() -> None:
    wf = Workflow("demo", inputs={"doc": Input(str, "a document")})
    with pytest.raises(InputError, match="needs input 'doc'"):
        wf.bind({})
    with pytest.raises(InputError, match="has no input 'x'"):
        wf.bind({"doc": "d", "x": 1})
    with pytest.raises(InputError, match="is empty"):
        wf.bind({"doc": "  "})
    with pytest.raises(InputError, match="declares no input"):
        _ = wf.input.nothing
