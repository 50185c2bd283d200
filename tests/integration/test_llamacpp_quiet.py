"""Gemma 3 270M in a fresh process: llama.cpp's own log lines stay off stderr, and the first call's
weight loading is reported as a load (``models check`` says it is loading and times it apart)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
pytest.importorskip("llama_cpp")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import asyncio
from orchestrator.models.base import user
from orchestrator.models.guard import model_requests
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.loading import recording_loads
from orchestrator.models.spec import ModelSpec

async def main():
    model = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", timeout=120))
    with recording_loads() as loads:
        await model.complete([user("Say OK")], max_tokens=2)
        await model.embed(["ok"])
        await model.complete([user("Say OK")], max_tokens=2)
    print([load.model for load in loads.loads])

with model_requests(allowed=True):
    asyncio.run(main())
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_llama_cpp_prints_nothing_of_its_own_and_each_context_load_is_reported() -> None:
    proc = run("-c", SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # was: "llama_kv_cache_iswa: using full-size SWA cache ..." (logged as an error)
    assert proc.stdout.strip() == "['llamacpp:gemma3-270m', 'llamacpp:gemma3-270m']"  # generation + embedding


def test_models_check_says_gemma_is_loading_and_times_the_load_apart(tmp_path: Path) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text('default_cascade = ["gemma"]\n[models.gemma]\nref = "llamacpp:gemma3-270m"\ntimeout = 120\n')
    proc = run("-m", "orchestrator", "models", "check", "--json", env={"ORCHESTRATOR_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert "loading llamacpp:gemma3-270m" in proc.stderr and "llama_" not in proc.stderr
    [check] = json.loads(proc.stdout)
    assert check["ok"] and check["load_ms"] > 0
