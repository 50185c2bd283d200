"""Configuration problems in words a person can act on: where each value came from, its key, what is wrong.

    orchestrator.toml: specialists.classifier.threshold: Input should be less than or equal to 1, got 1.5
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

from orchestrator.errors import ConfigError
from orchestrator.settings._sources import ENV_ALIASES, ENV_PREFIX, Layer

Loc = tuple[str | int, ...]


def problems(items: Sequence[tuple[Loc, str]]) -> PydanticCustomError:
    """A validation error carrying precise key paths (relative to where it is raised)."""
    summary = "; ".join(f"{format_key(loc)}: {reason}" for loc, reason in items)
    return PydanticCustomError("config_problems", "{summary}", {"summary": summary, "problems": list(items)})


def unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}")


def reject_unknown_keys(model: type[BaseModel]) -> BeforeValidator:
    """``extra="forbid"`` for models that ignore extra keys (ModelSpec, SpecialistConfig)."""

    def check(value: Any) -> Any:
        if isinstance(value, Mapping):
            known = list(model.model_fields)
            unknown = [str(k) for k in value if k not in model.model_fields]
            if unknown:
                raise problems([((k,), unknown_key(k, known)) for k in unknown])
        return value

    return BeforeValidator(check)


def config_error(exc: ValidationError, layers: Sequence[Layer], root: type[BaseModel]) -> ConfigError:
    """One :class:`ConfigError` for a validation error: a line per problem, each naming where the
    value came from (``layers``), its key and what is wrong; ``root`` is the settings model."""
    items: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        if error["type"] == "config_problems":
            items += [(loc + tuple(sub), reason) for sub, reason in error["ctx"]["problems"]]
        elif error["type"] == "extra_forbidden":
            items.append((loc, unknown_key(str(loc[-1]), fields_at(loc[:-1], root))))
        elif error["type"] == "missing":
            items.append((loc, "required"))
        else:
            given = error.get("input")
            shown = f", got {given!r}" if isinstance(given, str | int | float | bool) else ""
            items.append((loc, error["msg"].removeprefix("Value error, ") + shown))
    lines = [(origin(loc, layers), format_key(loc), reason) for loc, reason in items]
    first_source, first_key, first_reason = lines[0]
    rest = "".join("\n" + ": ".join(p for p in line if p) for line in lines[1:])
    return ConfigError(first_reason + rest, source=first_source, key=first_key or None)


def fields_at(loc: Loc, root: type[BaseModel]) -> list[str]:
    """The field names of the section at ``loc`` (none when ``loc`` is not a section)."""
    model = root
    for part in loc:
        annotation = model.model_fields[str(part)].annotation if str(part) in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def origin(loc: Loc, layers: Sequence[Layer]) -> str | None:
    """Which layer set the value at ``loc`` (or its nearest parent)."""
    for depth in range(len(loc), 0, -1):
        for layer in reversed(layers):
            if has(layer.data, loc[:depth]):
                return env_var(layer, loc) if layer.kind in ("env", "alias") else layer.source
    return None


def env_var(layer: Layer, loc: Loc) -> str:
    if layer.kind == "alias":
        for var, alias_loc in ENV_ALIASES.items():
            if loc[: len(alias_loc)] == alias_loc and os.environ.get(var):
                return f"environment {var}"
        return "environment"
    names = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + "__".join(str(p) for p in loc[:depth]).upper()
        if candidate in names:
            return f"environment {names[candidate]}"
    return "environment"


def has(data: Any, loc: Loc) -> bool:
    for part in loc:
        found = (
            part in data
            if isinstance(data, Mapping)
            else (isinstance(data, list) and isinstance(part, int) and part < len(data))
        )
        if not found:
            return False
        data = data[part]
    return True


def format_key(loc: Loc) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


__all__ = ["Loc", "config_error", "format_key", "origin", "problems", "reject_unknown_keys"]
