"""The one JSON-answer parser: fences, prose around the JSON, nested braces, and answers with none."""

from __future__ import annotations

import pytest

from orchestrator.models._resilience import parse_json
from orchestrator.models.json_answer import json_answer


@pytest.mark.parametrize(
    "text",
    [
        '{"label": "bug"}',
        '  {"label": "bug"}\n',
        '```json\n{"label": "bug"}\n```',
        '```\n{"label": "bug"}\n```',
        '```json {"label": "bug"}```',  # a one-line fence
        '`{"label": "bug"}`',  # single backticks
        'Sure! Here it is:\n```json\n{"label": "bug"}\n```\nAnything else?',
    ],
)
def test_fenced_answers(text: str) -> None:
    assert json_answer(text) == {"label": "bug"}


@pytest.mark.parametrize(
    "text",
    [
        'Sure! Here it is: {"label": "bug"}',
        '{"label": "bug"} is my answer.',
        'The answer {is}: {"label": "bug"}',  # a brace in the prose that is not JSON
        'I think {"label": "bug"} and not {"label": "feature"}',  # the first object counts
    ],
)
def test_prose_around_the_json(text: str) -> None:
    assert json_answer(text) == {"label": "bug"}


def test_nested_braces_and_braces_in_strings_are_read_as_json_reads_them() -> None:
    nested = {"data": {"total": 5.3, "lines": [{"sku": "A}1"}, {"sku": "{B2"}]}, "note": "}{"}
    assert json_answer('Result: {"data": {"total": 5.3, "lines": [{"sku": "A}1"}, {"sku": "{B2"}]}, "note": "}{"} ok') \
        == nested


def test_whole_answers_of_any_json_type_and_arrays_in_prose() -> None:
    assert json_answer(" [1, 2] ") == [1, 2]
    assert json_answer("42") == 42
    assert json_answer("null") is None
    assert json_answer('"a {b} c"') == "a {b} c"  # a JSON string is read whole, braces and all
    assert json_answer("The list: [1, 2].") == [1, 2]
    assert json_answer('see [note] then {"a": 1}') == {"a": 1}  # objects before arrays


@pytest.mark.parametrize(
    "text", ["", "   ", "nonsense", "Sure! Here it is", '{"label": "bug"', "{label: bug}", "```json\n```", "[1, 2"]
)
def test_answers_without_json_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        json_answer(text)


def test_json_nested_too_deeply_is_a_value_error_not_a_recursion_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nests too deeply"):
        json_answer(deep)
    with pytest.raises(ValueError, match="nests too deeply"):
        json_answer("Here: " + '{"a": ' * 100_000 + "1" + "}" * 100_000)


def test_many_brackets_without_json_stay_cheap() -> None:
    with pytest.raises(ValueError):
        json_answer("{x " * 50_000)


def test_model_clients_parse_with_the_same_function() -> None:
    assert parse_json('Sure: {"a": 1}') == {"a": 1}
    assert parse_json("no json here") is None
