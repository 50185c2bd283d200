"""The JSON value in a model's answer: the one parser every specialist and model client uses.

Small models wrap JSON in code fences (```` ```json ... ``` ````, one-line
fences, single backticks) or in prose ("Sure! Here it is: {...}"). The answer
is read whole first (fences stripped); failing that, the first object in it
(else the first array) that parses is taken, so nested braces and braces in
strings are read as JSON reads them. An answer with no JSON in it raises
:class:`ValueError`.
"""

from __future__ import annotations

import json
from typing import Any

_FENCE = "```"
_MAX_STARTS = 32
"""Opening brackets tried per bracket kind at most, so a long answer full of brackets stays cheap."""
_DECODER = json.JSONDecoder()
_NOTHING: Any = object()


def _unfenced(text: str) -> str:
    """``text`` stripped, without the code fence around it (and the fence's language tag)."""
    body = text.strip()
    if body.startswith(_FENCE):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit(_FENCE, 1)[0]
    return body.strip()


def _first_embedded(text: str, opener: str) -> Any:
    """The first JSON value starting at an ``opener`` in ``text`` that parses, or ``_NOTHING``."""
    start = text.find(opener)
    for _ in range(_MAX_STARTS):
        if start < 0:
            break
        try:
            return _DECODER.raw_decode(text, start)[0]
        except ValueError:
            start = text.find(opener, start + 1)
    return _NOTHING


def json_answer(text: str) -> Any:
    """The JSON value a model answered in ``text``; :class:`ValueError` when there is none.

    The whole answer (without code fences) is tried first; then the first object, else the
    first array, embedded in it. JSON nested too deeply to parse raises :class:`ValueError` too.
    """
    try:
        return _read(text)
    except RecursionError as exc:
        raise ValueError("the answer's JSON nests too deeply to read") from exc


def _read(text: str) -> Any:
    try:
        return json.loads(_unfenced(text))
    except ValueError as whole:
        for opener in "{[":
            value = _first_embedded(text, opener)
            if value is not _NOTHING:
                return value
        raise whole from None


__all__ = ["json_answer"]
