"""The payload checks every boundary shares: depth, non-finite numbers, lone surrogates, NUL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.errors import InputError
from orchestrator.payload import MAX_DEPTH, check_payload, loads, payload_problem


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(("value", "problem"), [
    ({"ticket": "a\ud800b"}, "inputs.ticket: contains a lone surrogate (\\ud800) at position 1"),
    ({"ticket": "a\x00b"}, "inputs.ticket: contains a NUL character (\\u0000) at position 1"),
    ({"n": float("nan")}, "inputs.n: nan is not a JSON number"),
    ({"n": [1.0, float("inf")]}, "inputs.n[1]: inf is not a JSON number"),
    ({"d": {"bad\x00key": 1}}, "inputs.d: a key contains a NUL character"),
    ({"d": {"odd key": "\udfff"}}, "inputs.d['odd key']: contains a lone surrogate"),
    ({"deep": nested(MAX_DEPTH)}, "inputs: nested deeper than 64 levels"),
])
def test_each_problem_is_named_with_its_place(value: Any, problem: str) -> None:
    found = payload_problem(value)
    assert found is not None and found.startswith(problem), found
    with pytest.raises(InputError, match="inputs"):
        check_payload(value)


@pytest.mark.parametrize("value", [
    {"ticket": "plain text, émojis 🎉 and tabs\t", "n": 1.5, "flag": True, "none": None, "big": 10**30},
    {"deep": nested(MAX_DEPTH - 1)},
    {"items": [{"a": [1, 2, {"b": "c"}]}] * 1000},
])
def test_ordinary_values_pass(value: Any) -> None:
    assert payload_problem(value) is None


def test_depth_is_checked_without_recursion() -> None:
    assert payload_problem({"x": nested(100_000)}) == "inputs: nested deeper than 64 levels of lists and objects"


@pytest.mark.parametrize(("text", "problem"), [
    ("[" * 3000 + "]" * 3000, "nested deeper than 64 levels of lists and objects (3000)"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('[Infinity]', "Infinity is not a JSON number"),
    ('{"a": "\\ud800"}', "a: contains a lone surrogate"),
    ('"\\u0000"', "contains a NUL character"),
    ('{"a": ', "not valid JSON"),
])
def test_loads_refuses_what_check_payload_refuses(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=r"^--input x") as refused:
        loads(text, "--input x")
    assert problem in str(refused.value)


def test_loads_skips_brackets_inside_strings() -> None:
    text = json.dumps({"a": "[" * 500 + '\\"' + "{" * 500})
    assert loads(text) == json.loads(text)
