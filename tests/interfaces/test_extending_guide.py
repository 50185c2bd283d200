"""docs/extending.md runs: its Python blocks as one module (its own test included), its TOML as the
configuration of ``orchestrator run --app`` (models swapped for the guide's scripted ones)."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "extending.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", GUIDE.read_text("utf-8"), flags=re.DOTALL | re.MULTILINE)


@pytest.fixture
def reviews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The guide's Python blocks as the module ``reviews`` (importable here and by the CLI)."""
    (tmp_path / "reviews.py").write_text("\n\n".join(blocks("python")), "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("reviews", None)
    yield importlib.import_module("reviews")
    sys.modules.pop("reviews", None)


def test_the_guides_own_test_passes(reviews: ModuleType) -> None:
    reviews.test_unsupported_evidence_escalates()


def test_the_specialist_scores_evidence_and_logprobs(reviews: ModuleType) -> None:
    from orchestrator.models import Completion

    sentiment = reviews.Sentiment()
    request = reviews.ReviewText(text="Lovely screen, awful battery.")
    quoted = sentiment.check(request, Completion(text='{"sentiment": "negative", "evidence": "awful battery"}'))
    invented = sentiment.check(request, Completion(text='{"sentiment": "negative", "evidence": "broken"}'))
    sure = sentiment.check(request, Completion(text='{"sentiment": "negative", "evidence": "awful battery"}',
                                               token_logprobs=[-0.01, -0.02]))
    assert quoted.valid and quoted.confidence == 0.9
    assert invented.valid and invented.confidence == 0.3
    assert sure.confidence == pytest.approx(0.985, abs=0.001)


def test_run_with_app_and_the_guides_configuration(reviews: ModuleType, tmp_path: Path) -> None:
    (toml,) = [b for b in blocks("toml") if "[specialists.sentiment]" in b]
    config = re.sub(r'ref = "ollama:[^"]+"', 'ref = "python:reviews:fake_model"', toml)
    (tmp_path / "orchestrator.toml").write_text(config, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", "review", "--app", "reviews:build", "--json", "-q",
         "-i", "review=The battery died after two days.", "--config", str(tmp_path / "orchestrator.toml")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    import json

    result = json.loads(done.stdout)
    assert result["answer"] == {"sentiment": "negative", "evidence": "battery died", "words": 6}
    mood = next(step for step in result["steps"] if step["step_id"] == "mood")
    # escalated: the small model's evidence is not in the review (both models have the same python: ref here)
    assert len(mood["attempts"]) == 2 and mood["escalated_from"] != []
    agents = subprocess.run([sys.executable, "-m", "orchestrator", "agents", "--app", "reviews:build",
                             "--config", str(tmp_path / "orchestrator.toml")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert agents.returncode == 0 and "sentiment" in agents.stdout and "word_count" in agents.stdout
