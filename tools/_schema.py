"""JSON Schema validation: our wording for the common keywords, ``jsonschema_rs`` for the rest.

Our own checks (messages written for a small model to act on, e.g. ``expected number, got
string``): ``type`` (one or a list), ``enum``, ``const``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``minItems``/``maxItems``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``minLength``/``maxLength``,
``pattern``, ``format`` (``date``, ``date-time``, ``email``), ``anyOf``, ``oneOf``, ``allOf`` and
local ``$ref`` (``#/$defs/...``, ``#/definitions/...``, as pydantic writes them). Every other
keyword of the standard (``multipleOf``, ``uniqueItems``, ``minProperties``, ``not``,
``if``/``then``/``else``, ``patternProperties``, ``prefixItems``, ``dependentRequired``, the
other formats such as ``uri`` ...) is checked by ``jsonschema_rs`` (draft 2020-12 unless the
schema's ``$schema`` says otherwise), whose errors keep the same ``path: message`` shape.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

_JSON_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, Mapping),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    if not _DATE_TIME.match(value):
        return False
    try:
        dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date": (_is_date, "a date as YYYY-MM-DD"),
    "date-time": (_is_date_time, "a date and time as YYYY-MM-DDTHH:MM:SS"),
    "email": (lambda v: bool(_EMAIL.match(v)), "an email address"),
}


def type_name(value: Any) -> str:
    """The JSON type of ``value``, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def validate(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way ``data`` breaks ``schema``, each as ``"path: message"`` (``$`` is the root).

    Raises ``ValueError`` when the schema itself is unusable (a bad ``$ref`` or ``pattern``).
    """
    ours = [f"{path or '$'}: {message}" for path, message in _errors(data, schema, "", schema)]
    return ours + [f"{path or '$'}: {message}" for path, message in _library_errors(data, schema)]


_OURS = {"Type", "Constant", "Enum", "AnyOf", "OneOfMultipleValid", "OneOfNotValid", "MinLength", "MaxLength",
         "Pattern", "Minimum", "Maximum", "ExclusiveMinimum", "ExclusiveMaximum", "MinItems", "MaxItems",
         "Required", "AdditionalProperties", "FalseSchema", "Format"}
"""Error kinds of ``jsonschema_rs`` that our own checks already report (in our words) ..."""
_WALKED = {"properties", "items", "additionalProperties", "anyOf", "oneOf", "allOf", "$defs", "definitions", "$ref"}
"""... when reached through these keywords only (not ``then``, ``patternProperties``, ``prefixItems`` ...)."""
_FOLLOWED_BY_NAME = {"properties", "$defs", "definitions", "anyOf", "oneOf", "allOf"}


_OUR_KEYWORDS = {"type", "const", "enum", "anyOf", "oneOf", "minLength", "maxLength", "pattern", "minimum",
                 "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems", "required",
                 "additionalProperties", "format"}


def _ours(kind: Any, schema_path: Sequence[str | int]) -> bool:
    """Whether our own checks report this library error already (same keyword, reached the same way)."""
    name = type(kind).__name__
    if name not in _OURS or (name == "Format" and getattr(kind, "format", None) not in _FORMATS):
        return False
    if name == "FalseSchema":
        return _walked_by_us(schema_path)
    return bool(schema_path) and str(schema_path[-1]) in _OUR_KEYWORDS and _walked_by_us(schema_path[:-1])


def _walked_by_us(schema_path: Sequence[str | int]) -> bool:
    """Whether our own checks walk every keyword of ``schema_path``."""
    index = 0
    while index < len(schema_path):
        keyword = str(schema_path[index])
        if keyword not in _WALKED:
            return False
        index += 2 if keyword in _FOLLOWED_BY_NAME else 1
    return True


def _library_errors(data: Any, schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What ``jsonschema_rs`` finds beyond our own checks."""
    import jsonschema_rs  # on first use: keeps the import of the tools (and the CLI) fast

    try:
        validator = jsonschema_rs.validator_for(dict(schema), validate_formats=True)
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        reason = str(exc).split("\n", 1)[0]
        raise ValueError(f"the schema is not a valid JSON Schema: {reason}") from None
    try:
        errors = list(validator.iter_errors(data))
    except ValueError as exc:  # data that is not JSON (a set, an object)
        raise ValueError(f"the data cannot be checked as JSON: {exc}") from None
    for error in errors:
        if _ours(error.kind, list(error.schema_path)):
            continue  # reported in our words already
        yield ".".join(str(part) for part in error.instance_path), error.message


def _count(number: Any, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _join(path: str, part: str | int) -> str:
    return f"{path}.{part}" if path else str(part)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    if not ref.startswith("#/"):
        raise ValueError(f"only local $ref such as '#/$defs/Name' is supported, not {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or part not in target:
            raise ValueError(f"$ref {ref!r} points nowhere")
        target = target[part]
    if not isinstance(target, Mapping):
        raise ValueError(f"$ref {ref!r} is not a schema")
    return _resolve(target, root)


def _errors(data: Any, schema: Mapping[str, Any] | bool, path: str,
            root: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if schema is True:
        return
    if schema is False:
        yield path, "no value is allowed here"
        return
    schema = _resolve(schema, root)
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_JSON_TYPES.get(t, lambda v: True)(data) for t in allowed):
            yield path, f"expected {' or '.join(allowed)}, got {type_name(data)}"
            return
    if "const" in schema and data != schema["const"]:
        yield path, f"must be {schema['const']!r}"
    if "enum" in schema and data not in schema["enum"]:
        yield path, f"must be one of {', '.join(repr(v) for v in schema['enum'])}; got {data!r}"
    yield from _combinator_errors(data, schema, path, root)
    if isinstance(data, str):
        yield from _string_errors(data, schema, path)
    elif _JSON_TYPES["number"](data):
        yield from _number_errors(data, schema, path)
    elif isinstance(data, list | tuple):
        yield from _array_errors(data, schema, path, root)
    elif isinstance(data, Mapping):
        yield from _object_errors(data, schema, path, root)


def _combinator_errors(data: Any, schema: Mapping[str, Any], path: str,
                       root: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for sub in schema.get("allOf", []):
        yield from _errors(data, sub, path, root)
    if "anyOf" in schema:
        results = [list(_errors(data, sub, path, root)) for sub in schema["anyOf"]]
        if all(results):
            yield min(results, key=len)[0][0], "matches none of the allowed shapes: " + "; ".join(
                message for result in results for _, message in result[:1])
    if "oneOf" in schema:
        matching = sum(1 for sub in schema["oneOf"] if not any(_errors(data, sub, path, root)))
        if matching != 1:
            yield path, f"must match exactly one allowed shape, matches {matching}"


def _string_errors(data: str, schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if "minLength" in schema and len(data) < schema["minLength"]:
        yield path, f"must have at least {_count(schema['minLength'], 'character')}"
    if "maxLength" in schema and len(data) > schema["maxLength"]:
        yield path, f"must have at most {_count(schema['maxLength'], 'character')}"
    if "pattern" in schema:
        try:
            matched = re.search(schema["pattern"], data)
        except re.error as exc:
            raise ValueError(f"the schema's pattern {schema['pattern']!r} at {path or '$'} "
                             f"is not a valid regular expression: {exc}") from None
        if not matched:
            yield path, f"{data!r} does not match pattern {schema['pattern']!r}"
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        check, described = _FORMATS[fmt]
        if not check(data):
            yield path, f"{data!r} is not {described}"


def _number_errors(data: float, schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, str]]:
    if "minimum" in schema and data < schema["minimum"]:
        yield path, f"must be at least {schema['minimum']}, got {data}"
    if "maximum" in schema and data > schema["maximum"]:
        yield path, f"must be at most {schema['maximum']}, got {data}"
    if "exclusiveMinimum" in schema and data <= schema["exclusiveMinimum"]:
        yield path, f"must be greater than {schema['exclusiveMinimum']}, got {data}"
    if "exclusiveMaximum" in schema and data >= schema["exclusiveMaximum"]:
        yield path, f"must be less than {schema['exclusiveMaximum']}, got {data}"


def _array_errors(data: list[Any] | tuple[Any, ...], schema: Mapping[str, Any], path: str,
                  root: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if "minItems" in schema and len(data) < schema["minItems"]:
        yield path, f"must have at least {_count(schema['minItems'], 'item')}, has {len(data)}"
    if "maxItems" in schema and len(data) > schema["maxItems"]:
        yield path, f"must have at most {_count(schema['maxItems'], 'item')}, has {len(data)}"
    items = schema.get("items")
    if isinstance(items, Mapping | bool):
        for index, item in enumerate(data):
            yield from _errors(item, items, _join(path, index), root)


def _object_errors(data: Mapping[str, Any], schema: Mapping[str, Any], path: str,
                   root: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for name in schema.get("required", []):
        if name not in data:
            yield _join(path, name), "is required but missing"
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name, sub in properties.items():
        if name in data:
            yield from _errors(data[name], sub, _join(path, name), root)
    extra = schema.get("additionalProperties", True)
    for name in data:
        if name in properties:
            continue
        if extra is False:
            yield _join(path, name), "is not an allowed field"
        elif isinstance(extra, Mapping):
            yield from _errors(data[name], extra, _join(path, name), root)


__all__ = ["type_name", "validate"]
