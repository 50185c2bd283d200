"""The ``orchestrator`` command: success and failure paths, as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.models import Completion, FunctionModel, ModelCall, ModelSpec, ScriptedModel, Usage
from tests.workflows.test_workflows_e2e import TICKET as TICKET_TEXT
from tests.workflows.test_workflows_e2e import scripted

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


SUMMARY_PLAN = {"goal": "summarise the ticket",
                "steps": [{"id": "summary", "agent": "summarizer", "inputs": {"text": "$input.ticket"}}],
                "output": {"summary": "$steps.summary.summary"}}


def priced_planner(spec: ModelSpec) -> ScriptedModel:
    """A cloud planner (``python:tests.test_cli:priced_planner``): one plan for 2000 + 500 tokens."""
    plan = Completion(text=json.dumps(SUMMARY_PLAN), usage=Usage(input_tokens=2000, output_tokens=500))
    return ScriptedModel([plan], ref=spec.ref, local=False)


def priced_cloud(spec: ModelSpec) -> FunctionModel:
    """A cloud model answering like the triage model, each call 1000 + 100 tokens."""

    def reply(call: ModelCall) -> Completion:
        answer = scripted(call)
        text = answer if isinstance(answer, str) else json.dumps(answer)
        return Completion(text=text, usage=Usage(input_tokens=1000, output_tokens=100))

    return FunctionModel(reply, ref=spec.ref, local=False)


@pytest.fixture
def priced_config(tmp_path: Path) -> Path:
    """A free local model, a priced cloud model for summaries, and a priced cloud planner."""
    path = tmp_path / "orchestrator.toml"
    path.write_text(
        'default_cascade = ["small"]\n'
        '[models.small]\nref = "python:tests.scripted_models:triage"\n'
        '[models.cloud]\nref = "python:tests.test_cli:priced_cloud"\nlocal = false\n'
        'price_input = 1.0\nprice_output = 2.0\n'
        '[models.planner]\nref = "python:tests.test_cli:priced_planner"\nlocal = false\n'
        'price_input = 10.0\nprice_output = 30.0\n'
        '[specialists.summarizer]\ncascade = ["cloud"]\n'
        '[planner]\nmodel = "planner"\n'
    )
    return path


# Hand-computed, prices in $ per 1M tokens:
#   planner: 2000 * 10 + 500 * 30 = $0.035;  summary on cloud: 1000 * 1 + 100 * 2 = $0.0012
#   baseline (the planner's prices everywhere): $0.035 + (1000 * 10 + 100 * 30) = $0.035 + $0.013 = $0.048
#   saving: $0.048 - $0.0362 = $0.0118;  tokens: 2500 + 1100 = 3600
TASK = "Summarise the ticket"


def test_run_json_reports_cost_baseline_and_saving(priced_config: Path) -> None:
    proc = cli("run", TASK, "-i", f"ticket=@{TICKET}", "--json", config=priced_config)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    [step] = result["steps"]
    assert step["model"] == "python:tests.test_cli:priced_cloud" and step["local"] is False
    assert step["cost_usd"] == pytest.approx(0.0012) and step["baseline_cost_usd"] == pytest.approx(0.013)
    cost = result["cost"]
    assert cost["cost_usd"] == pytest.approx(0.0362)
    assert cost["baseline_cost_usd"] == pytest.approx(0.048)
    assert cost["saving_usd"] == pytest.approx(0.0118)
    assert cost["saving_ratio"] == pytest.approx(0.0118 / 0.048)
    assert cost["usage"] == {"input_tokens": 3000, "output_tokens": 600}
    assert cost["baseline_model"] == "python:tests.test_cli:priced_planner"
    assert (cost["local_steps"], cost["remote_steps"]) == (0, 1)


def test_run_table_shows_cost_and_saving(priced_config: Path) -> None:
    proc = cli("run", TASK, "-i", f"ticket=@{TICKET}", config=priced_config)
    assert proc.returncode == 0, proc.stderr
    assert "cloud" in proc.stdout and "0.001200" in proc.stdout  # the summary step's row
    assert ("cost $0.036200; on python:tests.test_cli:priced_planner everywhere: $0.048000; "
            "saved $0.011800; tokens 3600; 0 local / 1 cloud model steps") in proc.stdout


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
    assert "plan: 6 steps" in proc.stderr and "ok  category" in proc.stderr  # live progress
    answer = json.loads(proc.stdout.split("\n\nstep ")[0])
    assert answer["category"] == "refund" and answer["fields"]["order_number"] == "LP-7731"
    assert "route_ticket" in proc.stdout and "cost $" in proc.stdout


def test_run_json_prints_whole_run_result(scripted_config: Path) -> None:
    proc = cli("run", "ticket_triage", "-i", f"ticket=@{TICKET}", "--json", config=scripted_config)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed"
    assert [s["step_id"] for s in result["steps"]] == ["screen", "category", "urgency", "fields", "summary", "routing"]
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


def test_unknown_model_backend_fails_at_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "orchestrator.toml"
    bad.write_text('default_cascade = ["small"]\n[models.small]\nref = "olama:qwen"\n')
    proc = cli("run", "ticket_triage", "-i", f"ticket=@{TICKET}", config=bad)
    _one_line_error(proc, str(bad), "models.small.ref", "unknown model scheme 'olama'", "did you mean 'ollama'?")
    assert proc.returncode == 2


@pytest.mark.parametrize(("options", "key", "reason"), [
    ('{ mode = "bogus" }', "specialists.classifier.options.mode", "got 'bogus'"),
    ('{ mdoe = "embedding" }', "specialists.classifier.options.mdoe", "unknown option; did you mean 'mode'?"),
])
def test_bad_specialist_options_fail_at_start_up(tmp_path: Path, options: str, key: str, reason: str) -> None:
    bad = tmp_path / "orchestrator.toml"
    bad.write_text(f'default_cascade = ["python:tests.scripted_models:triage"]\n'
                   f'[specialists.classifier]\noptions = {options}\n')
    proc = cli("run", "ticket_triage", "-i", f"ticket=@{TICKET}", config=bad)
    _one_line_error(proc, f"{bad}: {key}: ", reason)
    assert proc.returncode == 2


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


def test_run_takes_inline_values(scripted_config: Path) -> None:
    proc = cli("run", "ticket_triage", "--input", f"ticket={TICKET_TEXT}", "--json", config=scripted_config)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answer"]["fields"]["order_number"] == "LP-7731"


@pytest.mark.allow_model_requests
def test_models_check_reports_each_model_and_fails_on_a_broken_one(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "orchestrator.toml"
    config.write_text(
        'default_cascade = ["small", "down"]\n'
        '[models.small]\nref = "python:tests.scripted_models:triage"\n'
        f'[models.down]\nref = "ollama:qwen2.5:7b"\nretries = 0\noptions = {{ host = "http://127.0.0.1:{port}" }}\n'
    )
    proc = cli("models", "check", config=config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()}
    assert lines["small"].startswith("ok ") and " ms " in lines["small"]
    assert lines["down"].startswith("FAIL") and "connection refused" in lines["down"]
    assert "Traceback" not in proc.stderr
    healthy = cli("models", "check", "small", "--json", config=config)
    assert healthy.returncode == 0, healthy.stderr
    assert [r["ok"] for r in json.loads(healthy.stdout)] == [True]


def test_head_fit_trains_a_head_the_classifier_then_uses(scripted_config: Path, tmp_path: Path) -> None:
    examples = tmp_path / "intents.csv"
    examples.write_text("text,label\n" + "".join(
        f"{t},{lab}\n" for lab, words in (("refund", "refund money back"), ("shipping", "parcel late delivery"))
        for t in (f"{words} please", f"my {words}", f"{words} now")))
    out = tmp_path / "head.json"
    proc = cli("head", "fit", str(examples), "--model", "small", "--out", str(out), "--json", config=scripted_config)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["labels"] == 2 and summary["embedder"] == "python:tests.scripted_models:triage"
    assert json.loads(out.read_text())["labels"] == ["refund", "shipping"]
    _one_line_error(cli("head", "fit", str(tmp_path / "nope.csv"), "--model", "small", "--out", str(out),
                        config=scripted_config), "cannot read the examples")
