"""``orchestrator config show``: the resolved configuration, secrets masked.

Imports of the settings machinery happen inside the command, so registering it costs nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config show [--config PATH] [--profile NAME] [--json]``."""
    config = subparsers.add_parser("config", help="inspect the configuration", description="Inspect the configuration.")
    commands = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    show = commands.add_parser(
        "show",
        help="print the resolved configuration (secrets masked)",
        description="Print the configuration after merging profile, file, environment "
        "(ORCHESTRATOR_*, REDIS_URL) and defaults, with secrets masked.",
    )
    # SUPPRESS: a --config/--profile given to the top-level parser is not reset by this one.
    show.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="a TOML file, or a pyproject.toml with [tool.orchestrator] "
        "(default: $ORCHESTRATOR_CONFIG, ./orchestrator.toml, ./pyproject.toml)",
    )
    show.add_argument(
        "--profile",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="a packaged profile: embedded, ollama or hybrid (default: $ORCHESTRATOR_PROFILE)",
    )
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.errors import ConfigError
    from orchestrator.settings import Settings

    try:
        settings = Settings.load(getattr(args, "config", None), profile=getattr(args, "profile", None))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    data = settings.masked()
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))
    else:
        print(f"# resolved from: {', '.join(settings.sources) or 'defaults'} (secrets masked)")
        print(to_toml(data), end="")
    return 0


def to_toml(data: dict[str, Any]) -> str:
    """``data`` (JSON-like) as TOML; None values become comments, since TOML has no null."""
    lines: list[str] = []
    _table(lines, (), data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], path: tuple[str, ...], data: dict[str, Any]) -> None:
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and v}
    values = {k: v for k, v in data.items() if k not in tables}
    if path and (values or not tables):
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
    for key, value in values.items():
        lines.append(f"# {_key(key)} is not set" if value is None else f"{_key(key)} = {_value(value)}")
    for key, table in tables.items():
        _table(lines, (*path, key), table)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + items + " }" if items else "{}"
    return json.dumps(str(value))


__all__ = ["register", "run", "to_toml"]
