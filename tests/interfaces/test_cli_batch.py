"""``orchestrator run WORKFLOW --input-file``: JSONL and CSV in, results out, failures recorded, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.engine.batch import ItemResult
from orchestrator.engine.batch_files import ResultsFile, done_ids, read_items, read_results
from orchestrator.errors import InputError
from orchestrator.models import FunctionModel, ModelCall, ModelSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/tickets/batch.jsonl"


KEYWORDS = {"shipping": ["parcel", "tracking"], "refund": ["refund"], "billing": ["charged"],
            "account_access": ["sign in"], "technical_issue": ["crash", "500"], "feature_request": ["idea"],
            "critical": ["immediately"], "high": ["tomorrow"], "low": ["idea"]}


def answer(call: ModelCall) -> dict[str, object]:
    """Triage answers by keyword; fields copied from the text (an email, an order number) or null."""
    props = (call.schema or {}).get("properties", {})
    text = call.last_user
    if "label" in props:
        labels = props["label"]["enum"]
        found = [label for label in labels if any(w in text.lower() for w in KEYWORDS.get(label, []))]
        return {"label": (found or labels)[0]}
    if "customer_name" in props:
        email, order = re.search(r"[\w.]+@[\w.]+\w", text), re.search(r"\b[A-Z]{2,4}-\d+", text)
        return {"customer_name": None, "email": email and email.group(0), "order_number": order and order.group(0),
                "product": None}
    return {"summary": text.split(".")[0][:200]}


def triage(spec: ModelSpec) -> FunctionModel:
    return FunctionModel(answer, ref=spec.ref)


def slow_triage(spec: ModelSpec) -> FunctionModel:
    """The triage model, taking a quarter second per call (for the Ctrl-C test)."""
    return FunctionModel(answer, ref=spec.ref, delay=0.25)


def config(tmp_path: Path, factory: str = "tests.interfaces.test_cli_batch:triage") -> Path:
    path = tmp_path / "orchestrator.toml"
    path.write_text(f'default_cascade = ["small"]\n[models.small]\nref = "python:{factory}"\nconcurrency = 32\n')
    return path


def command(*args: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "orchestrator", "run", "ticket_triage", *args, "--config", str(config)]


def env() -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    values.pop("REDIS_URL", None)
    return values


def cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args, config=config), cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_shipped_example_runs_and_a_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    first = cli("--input-file", str(EXAMPLE), "--output", str(out), "--concurrency", "4", config=config(tmp_path))
    assert first.returncode == 0, first.stderr
    results = read_results(out)
    ids = [item.id for item in read_items(EXAMPLE)]
    assert sorted(results) == sorted(ids) and len(ids) == 8
    assert all(r.ok and r.answer["category"] for r in results.values())
    assert results["T-1003"].answer["category"] == "shipping"
    assert "8/8 items" in first.stderr

    again = cli("--input-file", str(EXAMPLE), "--output", str(out), config=config(tmp_path))
    assert again.returncode == 0, again.stderr
    assert "8 already done" in again.stderr
    assert len(out.read_text().splitlines()) == 8  # nothing ran twice


def test_csv_rows_map_to_inputs_and_ids_are_line_numbers(tmp_path: Path) -> None:
    items = tmp_path / "tickets.csv"
    items.write_text('ticket\n"Where is my parcel ORD-1? It is late."\n\n"Please refund my returned order."\n')
    proc = cli("--input-file", str(items), config=config(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert sorted(results) == ["2", "4"]  # the blank row is skipped; ids are the rows' line numbers
    assert results["2"]["answer"]["fields"]["order_number"] == "ORD-1"
    assert results["4"]["answer"]["category"] == "refund"


def test_a_bad_row_is_recorded_with_its_reason_while_the_rest_run(tmp_path: Path) -> None:
    items = tmp_path / "tickets.jsonl"
    items.write_text('{"id": "ok-1", "ticket": "My parcel is late."}\n{"id": "bad", "tikcet": "typo"}\n'
                     '{"id": "ok-2", "ticket": "Please refund me."}\n')
    out = tmp_path / "results.jsonl"
    proc = cli("--input-file", str(items), "--output", str(out), config=config(tmp_path))
    assert proc.returncode == 1  # one item failed
    results = read_results(out)
    assert results["ok-1"].ok and results["ok-2"].ok
    assert results["bad"].status == "rejected" and "no input 'tikcet'" in (results["bad"].error or "")
    assert "1 failed" in proc.stderr


def test_retry_failed_runs_only_the_failed_items_again(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with ResultsFile(out) as file:
        file.write(ItemResult(id="T-1001", index=0, ok=False, status="failed", error="model down"))
        file.write(ItemResult(id="T-1002", index=1, ok=True, status="completed", answer={"x": 1}))
    assert done_ids(out) == {"T-1001", "T-1002"} and done_ids(out, retry_failed=True) == {"T-1002"}

    proc = cli("--input-file", str(EXAMPLE), "--output", str(out), "--retry-failed", config=config(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = read_results(out)
    assert results["T-1001"].ok and results["T-1002"].answer == {"x": 1} and len(results) == 8


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes_the_rest(tmp_path: Path) -> None:
    items = tmp_path / "many.jsonl"
    items.write_text("".join(json.dumps({"ticket": f"Ticket {i}: my parcel ORD-{i} is late."}) + "\n"
                             for i in range(40)))
    out = tmp_path / "results.jsonl"
    slow = config(tmp_path, "tests.interfaces.test_cli_batch:slow_triage")
    proc = subprocess.Popen(command("--input-file", str(items), "--output", str(out), "--concurrency", "2",
                                    config=slow), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 2):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    kept = read_results(out)
    assert 2 <= len(kept) < 40 and all(r.ok for r in kept.values())

    rest = cli("--input-file", str(items), "--output", str(out), "--concurrency", "8", config=config(tmp_path))
    assert rest.returncode == 0, rest.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 40 and len({json.loads(line)["id"] for line in lines}) == 40


def test_output_without_input_file_is_refused(tmp_path: Path) -> None:
    proc = cli("--input", "ticket=hi", "--output", str(tmp_path / "o.jsonl"), config=config(tmp_path))
    assert proc.returncode == 2 and "--output needs --input-file" in proc.stderr


def test_reading_items(tmp_path: Path) -> None:
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text('{"ticket": "a"}\n\n{"id": "X-1", "ticket": "b"}\n')
    assert [(i.id, i.inputs, i.index) for i in read_items(jsonl)] == [("1", {"ticket": "a"}, 0),
                                                                       ("X-1", {"ticket": "b"}, 1)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ticket": "a"}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: a list, not a JSON object"):
        list(read_items(bad))
    with pytest.raises(InputError, match="no such file"):
        list(read_items(tmp_path / "missing.csv"))


def test_a_torn_last_line_is_ignored_and_the_next_result_starts_on_its_own(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    whole = ItemResult(id="a", index=0, ok=True, status="completed")
    out.write_text(whole.model_dump_json() + "\n" + '{"id": "b", "ind')
    assert list(read_results(out)) == ["a"]
    with ResultsFile(out) as file:
        file.write(ItemResult(id="b", index=1, ok=True, status="completed"))
    assert list(read_results(out)) == ["a", "b"]
