"""``orchestrator models check`` and ``run`` say on stderr that a model is loading, and time the
load apart from the answer (a scripted model that loads like llama.cpp, in a subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import cli

pytestmark = pytest.mark.allow_model_requests


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "orchestrator.toml"
    path.write_text('default_cascade = ["slow"]\n[models.slow]\nref = "python:tests.scripted_models:slow_loading"\n')
    return path


def test_models_check_shows_progress_on_stderr_while_a_model_loads(config: Path) -> None:
    proc = cli("models", "check", config=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[0] == "checking 1 model ..."
    assert "loading python:tests.scripted_models:slow_loading" in proc.stderr
    [line] = proc.stdout.splitlines()
    assert line.startswith("ok   slow") and "s loading)" in line

    as_json = cli("models", "check", "--json", config=config)
    [check] = json.loads(as_json.stdout)  # stdout stays clean JSON; the progress went to stderr
    assert check["ok"] and check["load_ms"] >= 300 and check["latency_ms"] is not None


def test_run_says_when_a_model_starts_loading(config: Path) -> None:
    proc = cli("run", "ticket_triage", "--input", "ticket=My card was charged twice for order LP-7731.",
               config=config)
    assert "loading python:tests.scripted_models:slow_loading (weights load on first use" in proc.stderr
    assert "Traceback" not in proc.stderr
