"""Fixtures for workflow tests: the agent catalog and the specialists' input models."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def catalog() -> list[str]:
    """Every specialist and tool name the project registers (from pyproject.toml)."""
    entry_points: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    return sorted([*entry_points["orchestrator.specialists"], *entry_points["orchestrator.tools"]])


@pytest.fixture(scope="session")
def specialist_inputs() -> dict[str, type[BaseModel]]:
    """Specialist name -> its Input model (skips when the agents package is not importable)."""
    classifier = pytest.importorskip("orchestrator.agents.classifier")
    extractor = pytest.importorskip("orchestrator.agents.extractor")
    summarizer = pytest.importorskip("orchestrator.agents.summarizer")
    return {"classifier": classifier.Classifier.Input, "extractor": extractor.Extractor.Input,
            "summarizer": summarizer.Summarizer.Input}
