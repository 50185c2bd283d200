"""``--input key=value`` and ``--input key=@file`` parsing, shared by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.errors import InputError
from orchestrator.payload import check_payload, loads

MAX_FILE_BYTES = 10 * 1024 * 1024


def parse_inputs(items: list[str] | None) -> dict[str, Any]:
    """``["ticket=@t.txt", "n=3"]`` -> ``{"ticket": <file text>, "n": "3"}``.

    ``key=@file`` reads UTF-8 text (``.json`` files are parsed); ``key:=JSON`` takes a JSON value.
    Values pass the payload checks of :mod:`orchestrator.payload` (depth, NaN, lone surrogates, NUL).
    """
    values: dict[str, Any] = {}
    for item in items or []:
        if item.split("=", 1)[0].endswith(":"):
            key, raw = item.split(":=", 1)
            name = _key(key, item)
            values[name] = loads(raw, f"--input {name}")
            continue
        if "=" not in item:
            raise InputError(f"--input {item!r} must look like key=value, key=@file or key:=JSON")
        key, raw = item.split("=", 1)
        name = _key(key, item)
        values[name] = read_file(raw[1:]) if raw.startswith("@") else raw
        check_payload(values[name], f"--input {name}")
    return values


def _key(key: str, item: str) -> str:
    key = key.strip()
    if not key.isidentifier():
        raise InputError(f"--input {item!r}: {key!r} is not a valid input name")
    return key


def read_file(name: str) -> Any:
    """Read an input file: UTF-8 text, or parsed JSON for ``.json`` files."""
    path = Path(name).expanduser()
    if not path.is_file():
        raise InputError(f"cannot read input file {name!r}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"input file {name!r} is {size} bytes; the limit is {MAX_FILE_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"input file {name!r} is not UTF-8 text; convert it first "
                         "(e.g. iconv -t utf-8)") from None
    except OSError as exc:
        raise InputError(f"cannot read input file {name!r}: {exc.strerror}") from None
    if path.suffix == ".json":
        return loads(text, f"input file {name!r}")
    return text
