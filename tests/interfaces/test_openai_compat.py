"""The official ``openai`` client against a real server: models, completions, streaming, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncOpenAI

from tests.interfaces.conftest import KEY


@pytest.fixture
async def client(server: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=20) as c:
        yield c


async def test_models_are_the_orchestrator_and_its_workflows(client: AsyncOpenAI) -> None:
    ids = [m.id async for m in client.models.list()]
    assert ids == ["orchestrator", "workflow:echo", "workflow:slow_echo"]


async def test_completion_plans_the_last_message_with_history(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="orchestrator", messages=[
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "and a follow-up"},
    ])
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "reply: AND A FOLLOW-UP (AFTER 3 TURNS)"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


async def test_workflow_model_runs_the_workflow(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="workflow:echo", messages=[{"role": "user", "content": "ship it"}])
    assert completion.choices[0].message.content == "text: SHIP IT"


async def test_streaming_sends_the_answer_in_chunks(client: AsyncOpenAI) -> None:
    text = "a longer message that will not fit in a single streamed chunk of the answer"
    stream = await client.chat.completions.create(
        model="workflow:echo", messages=[{"role": "user", "content": text}], stream=True,
        stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(pieces) == f"text: {text.upper()}"
    assert len([p for p in pieces if p]) > 1
    assert finish == "stop"
    assert usage is not None and usage.total_tokens > 0


async def test_streaming_progress_is_opt_in(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="workflow:slow_echo", messages=[{"role": "user", "content": "go"}], stream=True,
        extra_body={"progress": True})
    chunks = [c async for c in stream if c.choices]
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    progress = "".join((c.choices[0].delta.model_extra or {}).get("progress", "") for c in chunks)
    assert progress.startswith("plan: 2 steps: wait (sleep), shout (echo)\n")
    assert "ok  wait" in progress and "ok  shout" in progress
    assert content == "text: GO"  # the assistant's message is the answer alone, no progress lines mixed in


async def test_unknown_model_and_bad_key(client: AsyncOpenAI, server: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "unknown model 'gpt-4o'" in str(missing.value)
    async with AsyncOpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model="orchestrator", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError):
        await client.chat.completions.create(model="orchestrator", messages=[{"role": "system", "content": "x"}])
