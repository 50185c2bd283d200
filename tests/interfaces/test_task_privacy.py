"""The task text follows sensitivity: a confidential task never reaches a planner that is not local.

A recording OpenAI-compatible server on 127.0.0.1 stands in for the cloud planner (declared
``local = false``, as a hosted API would be). Every way a free-form task arrives (``run`` in
Python and on the CLI, ``POST /v1/jobs``, ``/v1/chat/completions``, thread messages, the
terminal chat) is tried with a canary in the task text; the server must never see it. Marking
the task shareable (``task=internal``) sends it, which shows the recorder sees what is sent.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.errors import ConfigError
from orchestrator.interfaces.chat import ChatSession
from orchestrator.models import ModelSpec
from orchestrator.store import MemoryStore
from tests.interfaces.app import MODELS, build
from tests.models.fake_server import FakeServer, Reply, Request, start

pytestmark = pytest.mark.allow_model_requests

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARY-7f3a9c Patient Jane Roe, born 1961-04-02, diagnosis code F32.1"
TASK = f"Classify this: {CANARY}"
PLAN = '{"goal": "reply", "steps": [{"id": "reply", "agent": "echo", "inputs": {"text": "done"}}], ' \
       '"output": {"reply": "$steps.reply.text"}}'
Make = Callable[..., Awaitable[httpx.AsyncClient]]


def plan_reply(_: Request) -> Reply:
    return Reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": PLAN}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})


@pytest.fixture
def cloud() -> Iterator[FakeServer]:
    fake, stop = start()
    fake.respond("/v1/chat/completions", plan_reply)
    yield fake
    stop()


def canaries(fake: FakeServer) -> int:
    """Requests the cloud received that carry the canary."""
    return sum(1 for r in fake.requests if "CANARY-7f3a9c" in str(r.body))


def overrides(cloud: FakeServer, *, local: bool = False, level: str = "confidential") -> dict[str, Any]:
    spec = ModelSpec(ref="openai:gpt-test", local=local, options={"base_url": f"{cloud.url}/v1"})
    return {"models": {**MODELS, "hosted": spec}, "planner": {"model": "hosted", "replan": False},
            "default_sensitivity": level}


async def test_run_refuses_a_confidential_task_for_a_cloud_planner(cloud: FakeServer) -> None:
    async with build(redis_url=None, **overrides(cloud)) as orch:
        with pytest.raises(ConfigError) as refused:
            await orch.run(TASK)
        with pytest.raises(ConfigError):
            await orch.plan(TASK)
    async with build(redis_url=None, **overrides(cloud, level="internal")) as orch:
        with pytest.raises(ConfigError, match="marked confidential"):
            await orch.run(TASK, sensitivity={"task": "confidential"})
    assert "planner model 'openai:gpt-test' is not local" in str(refused.value)
    assert "--sensitivity task=internal" in str(refused.value)
    assert canaries(cloud) == 0


async def test_a_task_marked_shareable_reaches_the_planner(cloud: FakeServer) -> None:
    async with build(redis_url=None, **overrides(cloud)) as orch:
        result = await orch.run(TASK, sensitivity={"task": "internal"})
    assert result.ok, result.error
    assert canaries(cloud) == 1  # the recorder sees what is sent: the refusals above are real


async def test_a_local_planner_plans_confidential_tasks(cloud: FakeServer) -> None:
    async with build(redis_url=None, **overrides(cloud, local=True)) as orch:
        result = await orch.run(TASK)
    assert result.ok, result.error
    assert canaries(cloud) == 1


async def test_workflows_still_run_on_a_confidential_deployment(cloud: FakeServer) -> None:
    async with build(redis_url=None, **overrides(cloud)) as orch:
        result = await orch.run("echo", {"text": CANARY})
    assert result.ok and canaries(cloud) == 0


async def test_http_jobs_chat_and_threads_refuse_confidential_tasks(cloud: FakeServer, make_client: Make) -> None:
    client = await make_client(**overrides(cloud))
    job = await client.post("/v1/jobs", json={"target": TASK})
    chat = await client.post("/v1/chat/completions",
                             json={"model": "orchestrator", "messages": [{"role": "user", "content": TASK}]})
    thread = await client.post("/v1/threads/t1/messages", json={"message": TASK})
    for response in (job, chat, thread):
        assert response.status_code == 400, response.text
        assert "is not local" in response.json()["error"]["message"]
    assert (await client.get("/v1/threads/t1")).status_code == 404  # the refused message is not recorded
    message = {"role": "user", "content": f"echo: {CANARY}"}
    workflow = await client.post("/v1/chat/completions", json={"model": "orchestrator", "messages": [message]})
    assert workflow.status_code == 200, workflow.text
    assert canaries(cloud) == 0

    shared = await client.post("/v1/jobs", json={"target": TASK, "sensitivity": {"task": "internal"}})
    assert shared.status_code == 202, shared.text
    for _ in range(200):  # bounded wait for the background job
        if canaries(cloud):
            break
        await asyncio.sleep(0.02)
    assert canaries(cloud) == 1


async def test_terminal_chat_refuses_confidential_tasks(cloud: FakeServer) -> None:
    store = MemoryStore()
    async with build(redis_url=None, **overrides(cloud)) as orch:
        session = ChatSession(orch, store)
        reply = await session.handle(TASK)
    assert reply.kind == "error" and "is not local" in reply.text
    assert await store.history(session.thread_id, 10) == []
    assert canaries(cloud) == 0


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    env.pop("REDIS_URL", None)
    env.pop("ORCH_BLOCK_MODEL_REQUESTS", None)
    env["ORCHESTRATOR_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "orchestrator", "run", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_run_refuses_a_confidential_task(cloud: FakeServer, tmp_path: Path) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text(
        'default_sensitivity = "confidential"\ndefault_cascade = ["small"]\n'
        '[models.small]\nref = "python:tests.scripted_models:triage"\n'
        f'[models.hosted]\nref = "openai:gpt-test"\nlocal = false\noptions = {{ base_url = "{cloud.url}/v1" }}\n'
        '[planner]\nmodel = "hosted"\nreplan = false\nmax_repairs = 0\n')
    refused = cli(config, TASK)
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr
    assert "is not local" in refused.stderr and "--sensitivity task=internal" in refused.stderr
    assert canaries(cloud) == 0

    cli(config, TASK, "--sensitivity", "task=internal", "-q")  # the plan may not run here; it was sent
    assert canaries(cloud) >= 1
