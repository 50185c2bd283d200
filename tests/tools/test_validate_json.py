"""validate_json: the supported JSON Schema subset and its 'path: message' errors."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.tools import ValidateJSON
from orchestrator.tools.validation import ValidateJSONInput, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string", "minLength": 1},
        "date": {"type": "string", "format": "date"},
        "total": {"type": "number", "minimum": 0},
        "currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"},
        "status": {"enum": ["paid", "due"]},
        "items": {"type": "array", "maxItems": 3,
                  "items": {"type": "object", "required": ["price"],
                            "properties": {"price": {"type": "number"}, "qty": {"type": "integer"}}}},
    },
    "required": ["vendor", "date", "total"],
}

VALID = {"vendor": "Kaffeehaus", "date": "2024-03-14", "total": 10.9, "currency": "EUR",
         "status": "paid", "items": [{"price": 4.2, "qty": 1}]}


def test_valid_data() -> None:
    out = ValidateJSON().run(ValidateJSONInput.model_validate({"data": VALID, "schema": SCHEMA}))
    assert out.valid
    assert out.errors == []


def test_nullable_and_integral_float() -> None:
    data = {**VALID, "currency": None, "items": [{"price": 1, "qty": 2.0}]}
    assert validate(data, SCHEMA) == []


@pytest.mark.parametrize(("change", "error"), [
    ({"total": "10.90"}, "total: expected number, got string"),
    ({"total": -1}, "total: must be at least 0, got -1"),
    ({"total": True}, "total: expected number, got boolean"),
    ({"date": "14.03.2024"}, "date: '14.03.2024' is not a date as YYYY-MM-DD"),
    ({"date": "2024-02-30"}, "date: '2024-02-30' is not a date as YYYY-MM-DD"),
    ({"vendor": ""}, "vendor: must have at least 1 character"),
    ({"currency": "euro"}, "currency: 'euro' does not match pattern '^[A-Z]{3}$'"),
    ({"status": "open"}, "status: must be one of 'paid', 'due'; got 'open'"),
    ({"items": [{"qty": 1.5, "price": 1}]}, "items.0.qty: expected integer, got number"),
    ({"items": [{"qty": 1}]}, "items.0.price: is required but missing"),
    ({"items": [{"price": 1}] * 4}, "items: must have at most 3 items, has 4"),
])
def test_errors_name_the_path(change: dict[str, Any], error: str) -> None:
    assert validate({**VALID, **change}, SCHEMA) == [error]


def test_missing_required_fields_are_all_listed() -> None:
    errors = validate({"currency": "EUR"}, SCHEMA)
    assert errors == ["vendor: is required but missing", "date: is required but missing",
                      "total: is required but missing"]


def test_wrong_root_type() -> None:
    assert validate(["not", "an", "object"], SCHEMA) == ["$: expected object, got array"]


def test_additional_properties() -> None:
    schema = {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
    assert validate({"a": 1, "b": 2}, schema) == ["b: is not an allowed field"]
    typed = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert validate({"a": 1, "b": "x"}, typed) == ["b: expected integer, got string"]


def test_refs_and_any_of_as_pydantic_writes_them() -> None:
    schema = {
        "$defs": {"Line": {"type": "object", "properties": {"price": {"type": "number"}}}},
        "type": "object",
        "properties": {
            "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }
    assert validate({"lines": [{"price": 1}], "note": None}, schema) == []
    assert validate({"lines": [{"price": "1"}]}, schema) == ["lines.0.price: expected number, got string"]
    assert validate({"note": 3}, schema) == [
        "note: matches none of the allowed shapes: expected string, got integer; expected null, got integer"]


@pytest.mark.parametrize(("schema", "value", "ok"), [
    ({"format": "date-time"}, "2024-03-14T09:41:00Z", True),
    ({"format": "date-time"}, "2024-03-14", False),
    ({"format": "email"}, "jane@example.com", True),
    ({"format": "email"}, "jane at example", False),
    ({"format": "x-colour"}, "anything", True),  # unknown formats are annotations only (uuid is a known one now)
    ({"format": "uuid"}, "anything", False),
    ({"const": 3}, 3, True),
    ({"exclusiveMaximum": 3}, 3, False),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5, True),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False),
    ({"allOf": [{"minLength": 2}, {"maxLength": 3}]}, "abcd", False),
])
def test_other_keywords(schema: dict[str, Any], value: Any, ok: bool) -> None:
    assert (validate(value, schema) == []) is ok


@pytest.mark.parametrize("schema", [{"$ref": "#/$defs/Missing"}, {"$ref": "http://x/schema"},
                                    {"type": "string", "pattern": "("}])
def test_unusable_schema_raises(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        validate("x", schema)


def test_input_accepts_schema_by_name_and_by_alias() -> None:
    by_alias = ValidateJSONInput.model_validate({"data": 1, "schema": {"type": "integer"}})
    by_name = ValidateJSONInput(data=1, json_schema={"type": "integer"})
    assert by_alias == by_name
    assert "schema" in ValidateJSON.info().input_schema["properties"]


@pytest.mark.parametrize(("schema", "invalid", "valid", "error"), [
    ({"multipleOf": 0.5}, 1.3, 1.5, "$: 1.3 is not a multiple of 0.5"),
    ({"uniqueItems": True}, [1, 1], [1, 2], "$: [1,1] has non-unique elements"),
    ({"minProperties": 1}, {}, {"a": 1}, "$: {} has less than 1 property"),
    ({"not": {"type": "string"}}, "x", 1, None),
    ({"if": {"properties": {"kind": {"const": "card"}}}, "then": {"required": ["last4"]}},
     {"kind": "card"}, {"kind": "cash"}, None),
    ({"patternProperties": {"^n_": {"type": "number"}}}, {"n_total": "x"}, {"n_total": 2}, None),
    ({"prefixItems": [{"type": "string"}, {"type": "number"}]}, ["a", "b"], ["a", 1], None),
    ({"dependentRequired": {"card": ["expiry"]}}, {"card": "4242"}, {"card": "4242", "expiry": "12/29"}, None),
    ({"format": "uri"}, "not a uri", "https://example.com/a?b=1", '$: "not a uri" is not a "uri"'),
])
def test_the_rest_of_the_standard_through_jsonschema(schema: dict[str, Any], invalid: Any, valid: Any,
                                                     error: str | None) -> None:
    errors = validate(invalid, schema)
    assert len(errors) == 1 and errors[0].split(": ", 1)[0] in ("$", "1", "n_total")
    if error is not None:
        assert errors == [error]
    assert validate(valid, schema) == []


def test_library_errors_name_the_path_like_ours() -> None:
    schema = {"type": "object", "properties": {"lines": {"type": "array", "items": {
        "type": "object", "properties": {"qty": {"type": "integer", "multipleOf": 2}}}}}}
    assert validate({"lines": [{"qty": 2}, {"qty": 3}]}, schema) == ["lines.1.qty: 3 is not a multiple of 2"]
    assert validate({"lines": [{"qty": "3"}]}, schema) == ["lines.0.qty: expected integer, got string"]  # ours, once


def test_a_schema_that_is_not_json_schema_raises() -> None:
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        validate(1, {"type": "nope"})
