"""Writing measured confidence thresholds into a configuration file, keeping the rest of it as it is.

Each threshold goes to ``[specialists.<name>] threshold`` with a comment saying where it was
measured; an existing ``threshold`` line in that table is replaced (and an earlier measurement
comment above it), a missing table is appended. The edit is textual, so comments and layout
survive; the result is parsed back before anything is written, and a file the edit cannot
express (the key set some other way, e.g. as an inline table) is left untouched with an error
saying what to set by hand.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from orchestrator.errors import ConfigError

MARK = "# measured by orchestrator eval"
_TABLE = re.compile(r"^\s*\[")


def write_thresholds(path: str | Path, thresholds: Mapping[str, float], note: str, *,
                     profile: str | None = None) -> str:
    """Set each specialist's threshold in the TOML file at ``path`` (created when missing, extending
    ``profile`` if given); returns the new text. ``note`` goes into the comment (data, accuracy)."""
    file = Path(path)
    text = file.read_text(encoding="utf-8") if file.exists() else _new_file(profile)
    for name, value in thresholds.items():
        text = set_threshold(text, name, value, note)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot write the thresholds into {file}: the edited file would not parse ({exc}); "
                          f"set them by hand: " + ", ".join(f"[specialists.{n}] threshold = {_value(v)}"
                                                            for n, v in thresholds.items()), source=str(file)) from None
    for name, value in thresholds.items():
        written = parsed.get("specialists", {}).get(name, {}).get("threshold")
        if written != float(_value(value)):
            raise ConfigError(f"cannot write the threshold of {name!r} into {file} (it reads {written!r} after the "
                              f"edit); set [specialists.{name}] threshold = {_value(value)} by hand", source=str(file))
    file.write_text(text, encoding="utf-8")
    return text


def set_threshold(text: str, name: str, value: float, note: str) -> str:
    """``text`` with ``[specialists.<name>] threshold = value`` set (no parsing check)."""
    lines = text.splitlines()
    comment, setting = f"{MARK}: {note}", f"threshold = {_value(value)}"
    header = re.compile(rf"^\s*\[\s*specialists\s*\.\s*(\"{re.escape(name)}\"|{re.escape(name)})\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        block = ["", f"[specialists.{name}]", comment, setting]
        return "\n".join([*lines, *block]).lstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _TABLE.match(lines[i])), len(lines))
    current = next((i for i in range(start + 1, end) if re.match(r"^\s*threshold\s*=", lines[i])), None)
    if current is None:
        lines[start + 1:start + 1] = [comment, setting]
    else:
        lines[current] = setting
        if current > start + 1 and lines[current - 1].lstrip().startswith(MARK):
            lines[current - 1] = comment
        else:
            lines.insert(current, comment)
    return "\n".join(lines) + "\n"


def _value(value: float) -> str:
    """Rounded down to 6 places, so every item at the measured threshold stays above it."""
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ConfigError(f"a threshold must be in [0, 1], not {value!r}")
    return repr(math.floor(value * 1e6) / 1e6)


def _new_file(profile: str | None) -> str:
    return f'profile = "{profile}"\n' if profile else ""


__all__ = ["MARK", "set_threshold", "write_thresholds"]
