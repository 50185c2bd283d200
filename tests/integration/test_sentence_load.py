"""all-MiniLM-L6-v2 in a fresh process: its first call's loading (in this process or in encoder
processes) is reported as a load, so a step's latency and ``models check`` time the load apart,
as for llama.cpp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import asyncio, gc, sys
from orchestrator.models.guard import model_requests
from orchestrator.models.loading import recording_loads
from orchestrator.models.sentence import SentenceTransformerModel
from orchestrator.models.spec import ModelSpec

async def main():
    model = SentenceTransformerModel(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": PROCESSES}))
    started = []
    with recording_loads(on_start=started.append) as loads:
        await model.embed(["first"])
        await model.embed(["second"])
    other = SentenceTransformerModel(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": PROCESSES}))
    with recording_loads() as again:
        await other.embed(["third"])  # the process has it loaded: no load
    print(started, [load.model for load in loads.loads], loads.seconds > 0, again.loads, gc.get_freeze_count() > 0,
          "torch" in sys.modules)

with model_requests(allowed=True):
    asyncio.run(main())
"""


@pytest.mark.parametrize(("processes", "in_here"), [(0, "True True"), (1, "False False")])
def test_the_encoders_first_load_is_reported_once_and_the_heap_settles(processes: int, in_here: str) -> None:
    """In this process the load settles the heap; in an encoder process this one never imports torch."""
    script = SCRIPT.replace("PROCESSES", str(processes))
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"['st:all-minilm-l6-v2'] ['st:all-minilm-l6-v2'] True [] {in_here}"


def test_models_check_times_the_encoders_load_apart(tmp_path: Path) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text('default_cascade = ["embed"]\n[models.embed]\nref = "st:all-minilm-l6-v2"\n')
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "models", "check", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "ORCHESTRATOR_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    [check] = json.loads(proc.stdout)
    assert check["ok"] and check["load_ms"] > 0
