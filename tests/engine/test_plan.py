"""Plan validation (each rule), references, ordering, and the workflow DSL."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.errors import InputError, PlanError, PluginError, UnresolvedReference
from orchestrator.plan import EACH, MAX_STEPS, Plan, Reference, resolve
from orchestrator.types import Sensitivity
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
    step_schema = schema["$defs"]["Step"]["properties"]
    assert set(step_schema) == {"id", "agent", "instruction", "inputs", "params", "for_each"}
    assert "'$item'" in step_schema["for_each"]["description"]  # the planner learns how to fan out


# -- fan-out (for_each) -----------------------------------------------------------


def fan_out(for_each: Any = "$steps.parts.chunks", **inputs: Any) -> dict[str, Any]:
    return {"id": "each", "agent": "a", "for_each": for_each, "inputs": inputs or {"text": "$item"}}


def test_for_each_derives_dependencies() -> None:
    plan = Plan.parse({"goal": "g", "steps": [step("parts", t="$input.doc"), fan_out(text="$item.text")]})
    assert plan.step_map["each"].depends_on == {"parts"}
    assert plan.step_map["each"].reads_item
    over_input = Plan.parse({"goal": "g", "steps": [fan_out("$input.docs")]}, inputs=["docs"])
    assert over_input.step_map["each"].input_names == {"docs"} and not over_input.step_map["each"].depends_on


def test_for_each_must_name_an_existing_list() -> None:
    found = problems({"goal": "g", "steps": [step("parts"), fan_out("$steps.ghost.chunks")]})
    assert found == ["step 'each' references unknown step 'ghost' in '$steps.ghost.chunks'; existing steps: "
                     "each, parts"]
    found = problems({"goal": "g", "steps": [fan_out("$input.docs")]}, inputs=["doc"])
    assert "unknown input 'docs'" in found[0]
    assert problems({"goal": "g", "steps": [fan_out("$steps.each.x")]})[0] == (
        "step 'each' references itself ('$steps.each.x')")


def test_for_each_must_be_a_reference() -> None:
    assert problems({"goal": "g", "steps": [step("parts"), fan_out("chunks")]}) == [
        "step 'each' has for_each 'chunks'; it must be a reference to a list, e.g. '$steps.chunk.chunks' or "
        "'$input.documents'"]
    assert "malformed reference '$steps.'" in problems({"goal": "g", "steps": [fan_out("$steps.")]})[0]
    assert "'$item' exists only inside the step" in problems({"goal": "g", "steps": [fan_out("$item")]})[0]


def test_item_needs_for_each_and_for_each_needs_item() -> None:
    assert problems({"goal": "g", "steps": [step("x", t="$item.text")]}) == [
        "step 'x' uses '$item' but has no for_each; set for_each to the list to run over, e.g. "
        "'$steps.chunk.chunks'"]
    assert problems({"goal": "g", "steps": [step("parts"), fan_out(text="$steps.parts")]}) == [
        "step 'each' has for_each but never reads '$item'; pass the current item in its inputs, e.g. "
        "{'text': '$item'} or {'text': '$item.FIELD'}"]
    found = problems({"goal": "g", "steps": [step("parts"), fan_out()], "output": {"a": "$item"}})
    assert found[0].startswith("output references '$item', which exists only inside a step with for_each")


def test_resolve_item_and_each() -> None:
    outputs = {"x": [{"a": 1, "b": {"c": "p"}}, {"a": 2, "b": {"c": "q"}}]}
    assert resolve("$steps.x.*.a", {}, outputs) == [1, 2]
    assert resolve(["$steps.x.*.b.c", "$steps.x.1.a"], {}, outputs) == [["p", "q"], 2]
    assert resolve({"t": "$item.text", "all": "$item"}, {}, {}, item={"text": "T"}) == {
        "t": "T", "all": {"text": "T"}}
    with pytest.raises(KeyError, match="not a list"):
        resolve("$steps.x.0.*", {}, outputs)
    with pytest.raises(KeyError, match="only available in a step with for_each"):
        resolve("$item", {}, {})
    assert str(Reference.parse("$item.a.b")) == "$item.a.b"
    assert str(Reference.parse("$steps.x.*.a")) == "$steps.x.*.a"
    assert Reference.parse("$items") is None and Reference.parse("$steps.*") is None


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


def test_workflow_fan_out() -> None:
    wf = Workflow("digest", inputs={"doc": Input(str)})
    parts = wf.step("parts", "chunk_text", text=wf.input.doc)
    gists = wf.step("gists", "summarizer", for_each=parts.chunks, text=wf.item, params={"style": "bullets"})
    wf.step("joined", "join_texts", texts=gists[EACH].summary)
    wf.output(first=gists[0].summary)
    plan = wf.compile(catalog=["chunk_text", "summarizer", "join_texts"])
    assert plan.step_map["gists"].for_each == "$steps.parts.chunks"
    assert plan.step_map["gists"].inputs == {"text": "$item"}
    assert plan.step_map["joined"].inputs == {"texts": "$steps.gists.*.summary"}
    assert plan.output == {"first": "$steps.gists.0.summary"}
    with pytest.raises(PlanError, match="never reads '\\$item'"):
        wf.step("bad", "summarizer", for_each=parts.chunks, text=wf.input.doc)
        wf.compile()


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


@pytest.mark.parametrize(
    ("reference", "inputs", "outputs", "message"),
    [
        ("$input.doc", {}, {}, "'$input.doc' reads the run input 'doc', which is not available"),
        ("$steps.x.label", {}, {}, "'$steps.x.label' reads the output of step 'x', which is not available"),
        ("$steps.x.missing", {}, {"x": {}}, "$steps.x has no field 'missing'"),
        ("$steps.x.0.*", {}, {"x": [{"a": 1}]}, "$steps.x.0 is a dict, not a list, so '*' has no items to take"),
        ("$steps.x.*.a.b", {}, {"x": [{"a": {"b": 1}}, {"a": {}}]}, "$steps.x.*.a has no field 'b'"),
        ("$item.text", {}, {}, "'$item' is only available in a step with for_each"),
    ],
)
def test_an_unresolved_reference_is_an_error_of_our_tree_that_names_it(
    reference: str, inputs: dict[str, Any], outputs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnresolvedReference) as caught:
        resolve({"deep": ["plain", reference]}, inputs, outputs)
    error = caught.value
    assert error.reference == reference
    assert str(error) == error.args[0] == error.reason == message  # the message, not KeyError's quoted repr
    assert isinstance(error, PlanError) and error.problems == [message]
    assert isinstance(error, KeyError)  # what resolve raised before: `except KeyError` still catches it


@pytest.mark.parametrize("kind", [list[str], Any, 5])
def test_a_workflow_input_whose_type_values_cannot_be_checked_against_is_a_plugin_error(kind: Any) -> None:
    expected = r"workflow 'demo': input 'tags' has type .*use a class such as str"
    with pytest.raises(PluginError, match=expected) as caught:
        Workflow("demo", inputs={"doc": Input(str), "tags": Input(kind)})
    assert isinstance(caught.value, TypeError)  # what bind() raised for it before, on the first run
    assert caught.value.plugin == "workflow 'demo'"


def test_a_union_input_type_is_named_in_input_errors() -> None:
    wf = Workflow("demo", inputs={"n": Input(int | None, "a count")})
    assert wf.bind({"n": 3}) == {"n": 3} and wf.bind({"n": None}) == {"n": None}
    with pytest.raises(InputError, match=r"input 'n' must be int \| None, got str"):
        wf.bind({"n": "many"})
    with pytest.raises(InputError, match=r"input 'n' must be int \| None, got a boolean"):
        wf.bind({"n": True})


def test_a_workflow_compiles_once_until_it_changes() -> None:
    wf = Workflow("demo", "A demo", inputs={"doc": Input(str)})
    first = wf.step("first", "summarizer", text=wf.input.doc)
    wf.output(summary=first.summary)
    plan = wf.compile(["summarizer", "classifier"])
    assert wf.compile(["summarizer", "classifier"]) is plan  # the runs of a batch share one Plan
    other_catalog = wf.compile(["summarizer", "classifier", "extractor"])
    assert other_catalog is not plan and other_catalog == plan
    wf.step("kind", "classifier", params={"labels": ["a", "b"]}, text=wf.input.doc)
    grown = wf.compile(["summarizer", "classifier"])
    assert [s.id for s in grown.steps] == ["first", "kind"]
    wf.output(summary=first.summary, kind="$steps.kind.label")
    assert wf.compile(["summarizer", "classifier"]).output == {"summary": "$steps.first.summary",
                                                                  "kind": "$steps.kind.label"}
    with pytest.raises(PlanError):
        wf.compile(["summarizer"])  # a catalog without the classifier: still checked


@pytest.mark.parametrize("label", ["billing", Sensitivity.PUBLIC])  # marshalled, or (an enum) resolved each time
def test_step_arguments_are_fresh_copies_with_references_resolved(label: Any) -> None:
    plan = Plan.parse({"goal": "g", "steps": [
        {"id": "a", "agent": "t", "params": {"labels": [{"name": label}], "table": {"x": [1, 2]}, "text": "p"},
         "inputs": {"text": "$input.doc", "order": ["$input.doc", {"n": 3}]}}]})
    step = plan.step_map["a"]
    first = step.arguments({"doc": "D"}, {})
    assert first == {"labels": [{"name": label}], "table": {"x": [1, 2]}, "text": "D", "order": ["D", {"n": 3}]}
    first["labels"][0]["name"] = "mutated"
    first["table"]["x"].append(3)
    first["order"][1]["n"] = 4
    assert step.arguments({"doc": "E"}, {}) == {"labels": [{"name": label}], "table": {"x": [1, 2]}, "text": "E",
                                                "order": ["E", {"n": 3}]}
    assert step.params == {"labels": [{"name": label}], "table": {"x": [1, 2]}, "text": "p"}
