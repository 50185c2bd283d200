"""Session fixtures: the project's wheel, and fresh venvs with it installed (see ``venvs``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.venvs import Installing, Venv, build_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session from a copy of the working tree."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def _installing(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Installing]]:
    """Both venvs, installed at the same time (pip waits on the network as much as on the CPU)."""
    installs = {"plain": Installing(tmp_path_factory.mktemp("plain"), wheel),
                "beside": Installing(tmp_path_factory.mktemp("beside"), wheel, "openai-agents")}
    yield installs
    for install in installs.values():
        install.cancel()


@pytest.fixture(scope="session")
def plain_venv(_installing: dict[str, Installing]) -> Venv:
    """``pip install slm-orchestrator`` with no extras."""
    return _installing["plain"].wait()


@pytest.fixture(scope="session")
def beside_agents_sdk(_installing: dict[str, Installing]) -> Venv:
    """Our wheel and the OpenAI Agents SDK (``openai-agents``, which installs a top-level ``agents``)."""
    return _installing["beside"].wait()
