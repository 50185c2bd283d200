"""The ``orchestrator`` command.

Each sub-command lives in its own module with a ``register(subparsers)``
function; command bodies import heavy packages only when they run, so
``orchestrator --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

#: Modules that add sub-commands, in help order.
COMMAND_MODULES = ("run", "jobs", "chat", "serve", "models", "head", "train", "eval", "distill", "config", "plans")


#: Exit status of a command whose reader went away (``| head``): 128 + SIGPIPE, as shells report it.
BROKEN_PIPE = 141
_VERBOSE_HELP = "more logging (-vv for debug)"


def version() -> str:
    """The installed distribution's version (``0+unknown`` when run from an uninstalled tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("slm-orchestrator")
    except PackageNotFoundError:
        return "0+unknown"


class _Version(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orchestrator",
        description="A large model plans; small local models do the work.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"orchestrator.interfaces.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"orchestrator.interfaces.cli.{name}":
                raise
            continue
        module.register(subparsers)
    for command in _commands(parser):  # `orchestrator run -v ...` as well as `orchestrator -v run ...`
        command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=_VERBOSE_HELP)
    return parser


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every sub-command parser below ``parser``, nested ones (``jobs status``) included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases share one parser
                yield command
                yield from _commands(command)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader closed the pipe (``orchestrator agents --json | head``): stop quietly, and
        # point stdout at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
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


__all__ = ["BROKEN_PIPE", "build_parser", "main", "version"]
