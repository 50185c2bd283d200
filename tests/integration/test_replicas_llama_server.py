"""Replicas over three real ``llama_cpp.server`` processes on Gemma: one is killed mid-run and
the calls keep succeeding on the other two."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_servers import launch_llama_server, stop_llama_server

from orchestrator.models.base import user
from orchestrator.models.replicas import ReplicatedModel
from orchestrator.models.spec import ModelSpec, create_model

pytestmark = pytest.mark.integration

REPLICAS = 3
SERVER_ARGS = ("--n_threads", "1", "--chat_format", "gemma")
"""One thread each (the machine has two cores), and Gemma's chat template."""


@pytest.fixture
def servers(gemma_path: Path, tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    """Three llama.cpp servers on Gemma, one thread each, on free loopback ports."""
    pytest.importorskip("llama_cpp.server.app", reason="needs llama-cpp-python[server]")
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for index in range(REPLICAS):
            started.append(launch_llama_server(gemma_path, tmp_path / f"server{index}.log", *SERVER_ARGS))
        yield started
    finally:
        for process, _ in started:
            if process.poll() is None:
                stop_llama_server(process)


async def test_calls_keep_succeeding_when_one_replica_is_killed_mid_run(
    servers: list[tuple[subprocess.Popen[bytes], str]],
) -> None:
    spec = ModelSpec(ref="openai:gemma-3-270m", timeout=60, concurrency=2,
                     options={"endpoints": [url for _, url in servers], "replica_backoff": 30.0})
    model = create_model(spec)
    assert isinstance(model, ReplicatedModel) and model.capabilities.local
    ask = [user("Name three colours of the rainbow.")]

    warm = await asyncio.gather(*(model.complete(ask, max_tokens=4) for _ in range(REPLICAS)))
    assert all(c.usage.output_tokens > 0 for c in warm)
    assert [r.calls for r in model.status()] == [1, 1, 1]  # one call each: spread by in-flight count

    victim, victim_url = servers[0]
    batch = [asyncio.create_task(model.complete(ask, max_tokens=24)) for _ in range(2 * REPLICAS)]
    for _ in range(200):  # bounded: until the victim holds a call
        if model.status()[0].in_flight:
            break
        await asyncio.sleep(0.01)
    assert model.status()[0].in_flight > 0
    victim.kill()
    victim.wait(timeout=10)
    answers = await asyncio.wait_for(asyncio.gather(*batch), timeout=240)
    after = [await model.complete(ask, max_tokens=4) for _ in range(REPLICAS)]

    assert len(answers) == 2 * REPLICAS and all(c.usage.output_tokens > 0 for c in answers + after)
    killed, *alive = model.status()
    assert killed.endpoint == victim_url and not killed.up and killed.failures == 1
    assert killed.last_error is not None and victim_url in killed.last_error
    assert all(r.up and r.calls >= 2 for r in alive)
    await model.aclose()
