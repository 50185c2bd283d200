"""The ``orchestrator`` command: success and failure paths, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workflows.test_workflows_e2e import TICKET as TICKET_TEXT

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, config: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    env.pop("REDIS_URL", None)
    if config is not None:
        env["ORCHESTRATOR_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(autouse=True)
def ticket_file(tmp_path: Path) -> Path:
    global TICKET
    TICKET = tmp_path / "ticket.txt"
    TICKET.write_text(TICKET_TEXT)
    return TICKET


TICKET = Path("unset")


@pytest.fixture
def scripted_config(tmp_path: Path) -> Path:
    path = tmp_path / "orchestrator.toml"
    path.write_text(
        'default_cascade = ["small"]\n'
        '[models.small]\nref = "python:tests.scripted_models:triage"\n'
        '[models.planner]\nref = "python:tests.scripted_models:bad_planner"\nlocal = false\n'
        '[planner]\nmodel = "planner"\nmax_repairs = 1\n'
    )
    return path


def _one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_run_workflow_shows_progress_answer_and_table(scripted_config: Path) -> None:
    proc = cli("run", "ticket_triage", "--input", f"ticket=@{TICKET}", config=scripted_config)
    assert proc.returncode == 0, proc.stderr
    assert "plan: 5 steps" in proc.stderr and "ok  category" in proc.stderr  # live progress
    answer = json.loads(proc.stdout.split("\n\nstep ")[0])
    assert answer["category"] == "refund" and answer["fields"]["order_number"] == "LP-7731"
    assert "route_ticket" in proc.stdout and "cost $" in proc.stdout


def test_run_json_prints_whole_run_result(scripted_config: Path) -> None:
    proc = cli("run", "ticket_triage", "-i", f"ticket=@{TICKET}", "--json", config=scripted_config)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed"
    assert [s["step_id"] for s in result["steps"]] == ["category", "urgency", "fields", "summary", "routing"]
    assert "cost" in result and "plan" in result


def test_unknown_workflow(scripted_config: Path) -> None:
    _one_line_error(cli("run", "tikcet_triage", config=scripted_config), "unknown workflow 'tikcet_triage'",
                    "ticket_triage")


def test_missing_input(scripted_config: Path) -> None:
    _one_line_error(cli("run", "ticket_triage", config=scripted_config), "needs input 'ticket'", "--input ticket=")


def test_unreadable_and_non_utf8_files(scripted_config: Path, tmp_path: Path) -> None:
    _one_line_error(cli("run", "ticket_triage", "-i", "ticket=@/no/such/file.txt", config=scripted_config),
                    "no such file")
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Grüße aus Köln".encode("latin-1"))
    _one_line_error(cli("run", "ticket_triage", "-i", f"ticket=@{latin}", config=scripted_config), "not UTF-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    _one_line_error(cli("run", "ticket_triage", "-i", f"ticket=@{empty}", config=scripted_config), "is empty")


def test_malformed_input_flag(scripted_config: Path) -> None:
    _one_line_error(cli("run", "ticket_triage", "-i", "ticket", config=scripted_config), "key=value")


def test_invalid_plan_from_planner_fails_cleanly(scripted_config: Path) -> None:
    proc = cli("run", "Summarise the attached ticket please", "-i", f"ticket=@{TICKET}", config=scripted_config)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "unknown agent 'delete_everything'" in proc.stdout


def test_invalid_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "orchestrator.toml"
    bad.write_text('[specialists.classifier]\nthreshold = 3\n')
    proc = cli("run", "ticket_triage", "-i", f"ticket=@{TICKET}", config=bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "specialists.classifier.threshold" in proc.stderr


def test_workflows_and_agents_listings(scripted_config: Path) -> None:
    workflows = cli("workflows", "--json", config=scripted_config)
    assert {w["name"] for w in json.loads(workflows.stdout)} >= {"ticket_triage", "invoice_extraction",
                                                                 "document_digest"}
    agents = cli("agents", config=scripted_config)
    for name in ("classifier", "extractor", "summarizer", "chunk_text", "redact_pii", "validate_json"):
        assert name in agents.stdout


def test_help_lists_every_command() -> None:
    proc = cli("--help")
    for command in ("run", "submit", "worker", "jobs", "chat", "serve", "models", "config", "workflows", "agents"):
        assert command in proc.stdout
