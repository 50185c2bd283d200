"""Token streaming end to end: ``step.delta`` events from ``Orchestrator.stream`` and content chunks
of ``/v1/chat/completions`` arriving while the summarizer's model is still writing (scripted models)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from orchestrator.agents.summarizer import Summarizer
from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.interfaces.http import create_app
from orchestrator.interfaces.http.answer_stream import REVISED
from orchestrator.keys import KeySpace
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.models.base import Completion, Message, TextDeltas
from orchestrator.models.scripted import Chunks, Reply
from orchestrator.settings import Settings
from orchestrator.workflow import Input, Workflow
from tests.conftest import REDIS_URL
from tests.interfaces.conftest import KEY, serving
from tests.interfaces.test_sse import parse_sse

ROOT = Path(__file__).resolve().parents[2]
PIECES = ("The ", "team ", "ships ", "on ", "Friday.")


class GatedWriter(FunctionModel):
    """Streams its reply; after the first piece it waits for ``gate`` (the test opens it once the
    client has shown it received that piece, so the run cannot have finished before)."""

    def __init__(self, replies: Sequence[Reply]):
        queue = list(replies)
        super().__init__(lambda call: queue.pop(0), ref="function:writer", streaming=True)
        self.gate = asyncio.Event()

    async def stream(self, messages: Sequence[Message], on_delta: TextDeltas, **kwargs: Any) -> Completion:
        async def gated(piece: str) -> None:
            await on_delta(piece)
            await self.gate.wait()

        return await super().stream(messages, gated, **kwargs)


def deployment(model: FunctionModel, *, max_words: int = 20, **overrides: Any) -> Orchestrator:
    registry = Registry()
    registry.add(Summarizer())
    digest = Workflow("digest", "Summarise a text.", inputs={"text": Input(str, "The text.")})
    summary = digest.step("summary", "summarizer", params={"max_words": max_words}, text=digest.input.text)
    digest.output(summary=summary.summary)
    registry.add_workflow(digest)
    settings = Settings(models={"writer": ModelSpec(ref="function:writer", local=True)},
                        default_cascade=["writer"], planner={"model": None}, default_sensitivity="public",
                        **{"redis_url": None, "http": {"api_keys": [KEY]}, **overrides})
    return Orchestrator(settings, registry=registry, models={"writer": model})


@pytest.fixture
async def gated() -> AsyncIterator[tuple[GatedWriter, AsyncOpenAI]]:
    model = GatedWriter([Chunks(*PIECES)])
    orch = deployment(model)
    async with serving(create_app(orch)) as url, AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY,
                                                           max_retries=0, timeout=20) as client:
        yield model, client
    await orch.aclose()


async def test_orchestrator_stream_yields_the_summary_as_step_deltas_before_the_step_finishes() -> None:
    orch = deployment(FunctionModel(lambda call: Chunks(*PIECES), ref="function:writer", streaming=True))
    try:
        events = [e async for e in orch.stream("digest", {"text": "A long text about the release plan."})]
    finally:
        await orch.aclose()
    types = [e.type for e in events]
    deltas = [e for e in events if e.type == "step.delta"]
    assert [e.data["text"] for e in deltas] == list(PIECES)
    assert {(e.step_id, e.data["draft"], e.data["model"]) for e in deltas} == {("summary", 1, "function:writer")}
    assert types.index("step.started") < types.index("step.delta") < types.index("step.finished")
    assert events[-1].type == "run.finished"
    assert events[-1].data["answer"] == {"summary": "The team ships on Friday."}


async def test_a_model_that_does_not_stream_gives_no_deltas() -> None:
    orch = deployment(FunctionModel(lambda call: "The team ships on Friday.", ref="function:writer"))
    try:
        events = [e async for e in orch.stream("digest", {"text": "A long text about the release plan."})]
    finally:
        await orch.aclose()
    assert "step.delta" not in [e.type for e in events]
    assert events[-1].data["answer"] == {"summary": "The team ships on Friday."}


async def test_openai_client_gets_the_first_content_chunk_while_the_model_is_still_writing(
        gated: tuple[GatedWriter, AsyncOpenAI]) -> None:
    model, client = gated
    stream = await client.chat.completions.create(
        model="workflow:digest", messages=[{"role": "user", "content": "A long text about the plan."}], stream=True)
    contents: list[str] = []
    async with asyncio.timeout(15):  # without real streaming the first content would wait for the gate: stuck
        async for chunk in stream:
            piece = chunk.choices[0].delta.content if chunk.choices else None
            if piece:
                if not contents:
                    assert not model.gate.is_set()  # the model has not finished: the run cannot have ended
                    model.gate.set()
                contents.append(piece)
    assert contents[0] == "summary: The "
    assert contents[1:len(PIECES)] == list(PIECES[1:])  # each model piece is its own chunk, as produced
    assert "".join(contents) == "summary: The team ships on Friday."


async def test_a_repaired_draft_is_followed_by_the_revised_answer() -> None:
    too_long = Chunks(*(f"word{i} " for i in range(12)))
    model = FunctionModel(_replies([too_long, "Short and fine."]), ref="function:writer", streaming=True)
    orch = deployment(model, max_words=3)
    try:
        async with serving(create_app(orch)) as url, AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY,
                                                               max_retries=0, timeout=20) as client:
            stream = await client.chat.completions.create(
                model="workflow:digest", messages=[{"role": "user", "content": "text"}], stream=True)
            content = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    finally:
        await orch.aclose()
    draft = "summary: " + "".join(f"word{i} " for i in range(12))
    assert content == draft + REVISED + "summary: Short and fine."


def _replies(replies: list[Reply]) -> Any:
    def answer(call: ModelCall) -> Reply:
        return replies.pop(0)

    return answer


async def test_deltas_reach_the_client_through_the_redis_queue_and_a_worker(keyspace: KeySpace) -> None:
    model = GatedWriter([Chunks(*PIECES)])
    orch = deployment(model, redis_url=REDIS_URL, key_prefix=keyspace.prefix)
    try:
        async with serving(create_app(orch, workers=1)) as url, AsyncOpenAI(
                base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=20) as client:
            stream = await client.chat.completions.create(
                model="workflow:digest", messages=[{"role": "user", "content": "text"}], stream=True)
            contents: list[str] = []
            async with asyncio.timeout(15):
                async for chunk in stream:
                    if chunk.choices and (piece := chunk.choices[0].delta.content):
                        if not contents:
                            assert not model.gate.is_set()
                            model.gate.set()
                        contents.append(piece)
    finally:
        await orch.aclose()
    assert "".join(contents) == "summary: The team ships on Friday." and contents[0] == "summary: The "


def build_streaming() -> Orchestrator:
    """``--app`` factory: the digest workflow on a model that streams its reply in PIECES."""
    return deployment(FunctionModel(lambda call: Chunks(*PIECES), ref="function:writer", streaming=True))


def test_terminal_chat_shows_the_text_as_it_is_written() -> None:
    app = "tests.interfaces.test_token_streaming:build_streaming"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    done = subprocess.run([sys.executable, "-m", "orchestrator", "chat", "--app", app], input="digest: some text\n",
                          capture_output=True, text=True, timeout=60, env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["summary: The team ships on Friday."]  # the answer, once, on stdout
    assert "  >> summary: The team ships on Friday.\n" in done.stderr  # the live text, with the progress


async def test_job_sse_stream_carries_the_step_deltas() -> None:
    orch = build_streaming()
    try:
        async with serving(create_app(orch)) as url, httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
            submitted = await client.post("/v1/jobs", json={"target": "digest", "inputs": {"text": "t"}})
            job_id = submitted.json()["job_id"]
            messages = parse_sse((await client.get(f"/v1/jobs/{job_id}/events")).text)
    finally:
        await orch.aclose()
    deltas = [m for m in messages if m["event"] == "step.delta"]
    assert [m["data"]["data"]["text"] for m in deltas] == list(PIECES)
    assert messages[-1]["event"] == "run.finished"
