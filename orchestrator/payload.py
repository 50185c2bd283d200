"""Payload checks: what every boundary refuses in run inputs before anything stores or runs them.

One policy, applied by the HTTP schemas, the CLI's ``--input`` parser, ``Orchestrator.run`` and
``submit`` (and the job queue): a value is refused with an :class:`~orchestrator.errors.InputError`
naming where it is (``inputs.ticket[3]``) when it

* nests lists and mappings deeper than :data:`MAX_DEPTH` (deeper data overflows the JSON
  encoder and the stores; no workflow needs it),
* holds a float that is not finite (``NaN``, ``Infinity``: JSON has no such numbers, so they
  would be stored as ``null``),
* holds a string with a lone surrogate (``"\\ud800"``: not encodable as UTF-8, so nothing can
  store or return it), or a NUL character (``"\\u0000"``: truncates text in C-based tools and
  models; it is never meaningful in text, so it is refused rather than silently dropped).

Mapping keys are checked like strings. Other Python values (numbers, booleans, None, objects
passed in code) pass as they are. :func:`loads` parses JSON text under the same policy, with
the depth checked before the parser can recurse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import InputError

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings accepted in inputs (a top-level mapping is depth 1)."""


def text_problem(text: str) -> str | None:
    """What is wrong with ``text`` under the policy, in words; None when nothing is."""
    if "\x00" in text:
        return f"contains a NUL character (\\u0000) at position {text.index(chr(0))}; remove it"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # only lone surrogates cannot be encoded
        return (f"contains a lone surrogate (\\u{ord(text[exc.start]):04x}) at position {exc.start}, which is "
                "not valid Unicode text; send the character it stands for")
    return None


def payload_problem(value: Any, where: str = "inputs", *, max_depth: int = MAX_DEPTH) -> str | None:
    """The first problem in ``value`` as ``"<where>: <problem>"``; None when there is none.

    Walks the value with an explicit stack, so a hostile nesting depth cannot overflow Python's.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if (problem := text_problem(item)) is not None:
                return f"{path}: {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path}: {item!r} is not a JSON number; send a finite number or null"
        elif isinstance(item, Mapping | list | tuple):
            if depth + 1 > max_depth:
                return f"{where}: nested deeper than {max_depth} levels of lists and objects"
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if isinstance(key, str) and (problem := text_problem(key)) is not None:
                        return f"{path}: a key {problem}"
                    stack.append((child, f"{path}.{key}" if _plain(key) else f"{path}[{key!r}]", depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def check_payload(value: Any, where: str = "inputs", *, max_depth: int = MAX_DEPTH) -> None:
    """Raise :class:`InputError` if ``value`` breaks the policy (see the module docstring)."""
    if (problem := payload_problem(value, where, max_depth=max_depth)) is not None:
        raise InputError(problem)


def loads(text: str, where: str = "value", *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text`` under the policy: too deep, ``NaN``, lone surrogates and NUL are refused."""
    if (depth := _json_depth(text)) > max_depth:
        raise InputError(f"{where}: nested deeper than {max_depth} levels of lists and objects ({depth})")

    def constant(name: str) -> Any:
        raise InputError(f"{where}: {name} is not a JSON number; send a finite number or null")

    try:
        value = json.loads(text, parse_constant=constant)
    except ValueError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})") from None
    check_payload(value, where, max_depth=max_depth)
    return value


def _json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON ``text`` (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _plain(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier()


__all__ = ["MAX_DEPTH", "check_payload", "loads", "payload_problem", "text_problem"]
