"""The ``orchestrator`` command.

Each sub-command lives in its own module with a ``register(subparsers)``
function; command bodies import heavy packages only when they run, so
``orchestrator --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Modules that add sub-commands, in help order.
COMMAND_MODULES = ("run", "jobs", "chat", "serve", "models", "head", "config")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="A large model plans; small local models do the work.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"orchestrator.interfaces.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"orchestrator.interfaces.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from orchestrator.errors import OrchestratorError
    from orchestrator.logging import configure_logging

    quiet = getattr(args, "log_level", "warning")  # long-running commands (worker, serve) default to info
    configure_logging("debug" if args.verbose > 1 else "info" if args.verbose else quiet)
    try:
        code: int = args.func(args)
    except OrchestratorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, _user_errors()) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def _user_errors() -> tuple[type[Exception], ...]:
    from orchestrator.errors import PlanError, UserError

    return (UserError, PlanError)


__all__ = ["build_parser", "main"]
