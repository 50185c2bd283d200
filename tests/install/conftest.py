"""Session fixtures: the project's wheel, and fresh venvs with it installed (see ``venvs``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.install.venvs import Venv, build_wheel, new_venv


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session from a copy of the working tree."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def plain_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """``pip install slm-orchestrator`` with no extras."""
    return new_venv(tmp_path_factory.mktemp("plain"), wheel)


@pytest.fixture(scope="session")
def beside_agents_sdk(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """Our wheel and the OpenAI Agents SDK (``openai-agents``, which installs a top-level ``agents``)."""
    return new_venv(tmp_path_factory.mktemp("beside"), wheel, "openai-agents")

