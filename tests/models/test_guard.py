"""The real-model guard: blocks, records what it blocked, covers child processes, and fails tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.engine.executor import Executor, RunSpec
from orchestrator.engine.router import Router
from orchestrator.errors import ModelRequestBlocked
from orchestrator.events import Collector
from orchestrator.models import ModelSpec, ScriptedModel, guard
from orchestrator.models.pool import ModelPool
from orchestrator.plan import Plan
from tests.engine.agents import make_registry

CONFTEST = Path(__file__).parents[1] / "conftest.py"
CHILD = """
from orchestrator.errors import ModelError
from orchestrator.models import guard
try:
    guard.check("openai:from-a-child")
except ModelError:
    print("blocked")
else:
    print("allowed")
"""


def child(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout.strip()


def test_the_innermost_block_decides_and_records() -> None:
    with guard.model_requests(allowed=False) as outer:
        with guard.model_requests(allowed=False) as inner, pytest.raises(ModelRequestBlocked,
                                                                          match="allow_model_requests"):
            guard.check("openai:gpt-4o-mini")
        with guard.model_requests(allowed=True) as opened:
            guard.check("ollama:qwen2.5:0.5b")
            assert guard.requests_allowed()
        assert not guard.requests_allowed()
    assert inner.models == ["openai:gpt-4o-mini"]
    assert not outer and not opened


async def test_a_blocked_request_the_router_swallowed_is_still_recorded() -> None:
    """The audit's case: the router escalates past a model error, so only the record shows the call."""
    unreachable = ModelSpec(ref="ollama:qwen2.5:0.5b", options={"host": "http://127.0.0.1:9"})
    pool = ModelPool({"real": unreachable}, {"backup": ScriptedModel([{"text": "fine"}])})
    registry, _ = make_registry()
    executor = Executor(registry, Router(pool, default_cascade=["real", "backup"]))
    plan = Plan.parse({"goal": "g", "steps": [{"id": "say", "agent": "echo", "inputs": {"text": "hi"}}]})
    spec = RunSpec(run_id="guarded", inputs={}, sensitivity={}, sink=Collector())
    with guard.model_requests(allowed=False) as blocked:
        result = await executor.execute(spec, plan)
    assert result.status == "completed" and result.step("say").model == "scripted:model"
    assert blocked.models == ["ollama:qwen2.5:0.5b"]


def test_the_environment_switches_child_processes(tmp_path: Path) -> None:
    record = tmp_path / "blocked.log"
    base = {k: v for k, v in os.environ.items() if k not in (guard.BLOCK_ENV, guard.RECORD_ENV)}
    assert child(base) == "allowed"
    assert child({**base, guard.BLOCK_ENV: "1", guard.RECORD_ENV: str(record)}) == "blocked"
    assert child({**base, guard.BLOCK_ENV: "0", guard.RECORD_ENV: str(record)}) == "allowed"
    assert guard.blocked_in_file(record) == ["openai:from-a-child"]
    size = record.stat().st_size
    with record.open("a") as fh:
        fh.write("ollama:later\t42\n")
    assert guard.blocked_in_file(record, offset=size) == ["ollama:later"]
    assert guard.blocked_in_file(tmp_path / "missing.log") == []


def test_this_session_blocks_child_processes() -> None:
    """What the suite's conftest sets up: any process a test starts inherits the block."""
    assert os.environ[guard.BLOCK_ENV] == "1" and Path(os.environ[guard.RECORD_ENV]).is_file()


@pytest.mark.allow_model_requests
def test_an_opted_in_test_lets_its_child_processes_through() -> None:
    assert guard.BLOCK_ENV not in os.environ
    assert guard.requests_allowed()


def test_the_suite_fixture_fails_tests_that_reached_a_real_model(pytester: pytest.Pytester,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite's conftest imports the repository's tests package: the inner run must find it.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(CONFTEST.parents[1]),
                                                                          os.environ.get("PYTHONPATH")])))
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    allow_model_requests: x\n    integration: x\n")
    pytester.makepyfile(test_inner=f'''
import subprocess, sys
import pytest
from orchestrator.errors import ModelError
from orchestrator.models import guard

CHILD = {CHILD!r}

def swallowed(model):
    try:
        guard.check(model)
    except ModelError:
        pass  # what the router does with a failed model call

def test_in_process():
    swallowed("openai:gpt-4o-mini")

def test_in_a_child_process():
    subprocess.run([sys.executable, "-c", CHILD], check=True)

@pytest.mark.allow_model_requests
def test_opted_in():
    swallowed("openai:gpt-4o-mini")
    out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "allowed"

@pytest.mark.integration
def test_integration_opts_in_too():
    swallowed("llamacpp:/models/gemma.gguf")

def test_no_model_at_all():
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_in_process*",
        "*the test reached real models (openai:gpt-4o-mini): 1 blocked request(s); use ScriptedModel*",
        "*ERROR at teardown of test_in_a_child_process*",
        "*the test reached real models (openai:from-a-child): 1 blocked request(s) (1 in processes the test "
        "started)*",
    ])
