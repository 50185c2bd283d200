"""What every command line tool owes its users: a version, help on every flag, -v anywhere, quiet pipes."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from orchestrator.interfaces.cli import BROKEN_PIPE, _commands, build_parser, version

ROOT = Path(__file__).resolve().parents[2]


def orchestrator(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False, **kwargs)  # type: ignore[call-overload]


def test_version_prints_the_installed_version() -> None:
    done = orchestrator("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"orchestrator {version()}"
    assert version()[0].isdigit()


def test_every_flag_and_argument_has_help() -> None:
    parser = build_parser()
    missing = [f"{command.prog} {action.option_strings or action.dest}"
               for command in [parser, *_commands(parser)] for action in command._actions
               if not action.help and not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)]
    assert missing == []


def test_verbose_is_accepted_after_the_command_too() -> None:
    parser = build_parser()
    assert parser.parse_args(["agents", "-v"]).verbose == 1
    assert parser.parse_args(["-vv", "agents"]).verbose == 2
    assert parser.parse_args(["jobs", "status", "abc", "-vv"]).verbose == 2
    assert parser.parse_args(["agents"]).verbose == 0


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as with `| head -c 10` on a long listing
    try:
        done = subprocess.run([sys.executable, "-m", "orchestrator", "agents", "--json"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == BROKEN_PIPE
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
