"""The run timeline: steps as bars (waiting, escalated, running) from the run's record, as data,
as text, and through ``orchestrator jobs show`` / ``runs show``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestrator.keys import KeySpace
from orchestrator.telemetry import render_text, timeline
from tests.conftest import REDIS_URL
from tests.interfaces.app import build
from tests.telemetry.processes import ROOT
from tests.telemetry.test_http import _submit
from tests.telemetry.test_tracing import _run


async def test_bars_show_waiting_escalation_and_running_with_model_tokens_and_cost() -> None:
    result = await _run()
    line = timeline(result)
    bars = {b.step_id: b for b in line.steps}
    greet = bars["greet"]
    assert [(s.kind, s.model) for s in greet.segments if s.kind != "waiting"] == [
        ("escalated", "scripted:small"), ("running", "scripted:big")]
    assert greet.model == "scripted:big" and greet.local is False and greet.escalated_from == ["scripted:small"]
    assert greet.input_tokens == 2000 and greet.cost_usd == result.step("greet").cost_usd > 0
    assert bars["parse"].status == "failed" and bars["parse"].model is None
    for bar in line.steps:
        assert 0 <= bar.start_ms <= bar.end_ms <= line.duration_ms + 1
        for segment in bar.segments:
            assert bar.start_ms <= segment.start_ms <= segment.end_ms <= bar.end_ms + 0.01
    text = render_text(line, width=30)
    assert "~" in text and "#" in text and "escalated from scripted:small" in text and "cloud" in text


async def test_a_step_waits_for_the_step_it_depends_on(monkeypatch: pytest.MonkeyPatch, keyspace: KeySpace) -> None:
    monkeypatch.setenv("ORCH_TEST_DELAY", "0.05")
    job, _ = await _submit(build(redis_url=None), target="slow_echo")
    bars = {b.step_id: b for b in timeline(_result(job)).steps}
    assert bars["shout"].start_ms == pytest.approx(bars["wait"].end_ms, abs=0.01)  # ready once "wait" ended
    assert bars["wait"].end_ms - bars["wait"].start_ms >= 50


def _result(job: dict[str, object]) -> object:
    from orchestrator.types import RunResult

    return RunResult.model_validate(job["result"])


def _cli(keyspace: KeySpace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORCHESTRATOR_REDIS_URL": REDIS_URL, "ORCHESTRATOR_KEY_PREFIX": keyspace.prefix,
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60, check=False)


async def test_jobs_show_and_runs_show_draw_the_timeline(monkeypatch: pytest.MonkeyPatch, keyspace: KeySpace) -> None:
    monkeypatch.setenv("ORCH_TEST_DELAY", "0.05")
    job, _ = await _submit(build(redis_url=REDIS_URL, key_prefix=keyspace.prefix), workers=1, target="slow_echo")
    shown = _cli(keyspace, "jobs", "show", job["job_id"])
    assert shown.returncode == 0, shown.stderr
    assert "completed" in shown.stdout and "function:small local" in shown.stdout and "#" in shown.stdout
    assert shown.stdout.index("wait") < shown.stdout.index("shout")
    as_json = _cli(keyspace, "runs", "show", job["job_id"], "--json")
    assert as_json.returncode == 0, as_json.stderr
    steps = json.loads(as_json.stdout)["steps"]
    assert [s["step_id"] for s in steps] == ["wait", "shout"] and steps[1]["segments"][-1]["kind"] == "running"
    missing = _cli(keyspace, "runs", "show", "no-such-run")
    assert missing.returncode == 2 and "no run 'no-such-run'" in missing.stderr


def test_orchestrator_run_draws_the_timeline_after_its_result() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_TEST_", "ORCHESTRATOR_"))}
    env.update({"PYTHONPATH": str(ROOT), "ORCH_TEST_DELAY": "0.05"})
    done = subprocess.run([sys.executable, "-m", "orchestrator", "run", "--app", "tests.interfaces.app:build",
                           "slow_echo", "--input", "text=hello", "-q", "--timeline"], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    timeline_rows = done.stdout.split("model / where / tokens / cost", 1)[1]
    assert "(plan)" in timeline_rows and "wait" in timeline_rows and "function:small local" in timeline_rows
