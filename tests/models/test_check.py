"""check_models against local fake servers, a refused port and misconfigured specs."""

from __future__ import annotations

import pytest
from fake_server import FakeServer, Reply, recording

from orchestrator.models.check import ModelCheck, check_models
from orchestrator.models.spec import ModelSpec

pytestmark = pytest.mark.allow_model_requests


async def test_healthy_and_broken_models_side_by_side(server: FakeServer, refused_url: str) -> None:
    server.script("/api/chat", recording("ollama_chat_text"))
    specs = [
        ModelSpec(name="small", ref="ollama:qwen2.5:1.5b", options={"host": server.url}),
        ModelSpec(name="down", ref="ollama:qwen2.5:7b", options={"host": refused_url}, retries=3),
        ModelSpec(name="missing", ref="nope:model"),
    ]

    small, down, missing = await check_models(specs, timeout=5)

    assert small.ok and small.reply == "OK" and small.latency_ms is not None and small.latency_ms > 0
    assert small.capabilities is not None and small.capabilities.structured_output == "json_schema"
    assert server.bodies("/api/chat")[0]["options"]["num_predict"] == 4
    assert server.bodies("/api/chat")[0]["messages"] == [{"role": "user", "content": "Say OK"}]
    assert not down.ok and down.latency_ms is None
    assert down.reason == (f"connection refused at {refused_url} — is Ollama running? "
                           "start it with `ollama serve`")
    assert not missing.ok and missing.capabilities is None
    assert missing.reason is not None and "unknown model scheme 'nope'" in missing.reason


async def test_embedding_only_models_are_checked_by_embedding(server: FakeServer) -> None:
    server.script("/api/embed", recording("ollama_embed"))
    spec = ModelSpec(ref="ollama:all-minilm", options={"host": server.url, "embed_only": True})

    [result] = await check_models([spec])

    assert result.ok and result.reply is None
    assert [r.path for r in server.requests] == ["/api/embed"]


async def test_missing_ollama_model_reason_says_how_to_pull(server: FakeServer) -> None:
    server.script("/api/chat", recording("ollama_model_not_found"))

    [result] = await check_models([ModelSpec(ref="ollama:qwen2.5:1.5b", options={"host": server.url})])

    assert not result.ok and result.reason is not None and "ollama pull qwen2.5:1.5b" in result.reason
    assert len(server.requests) == 1


async def test_a_model_slower_than_the_check_timeout(server: FakeServer) -> None:
    slow = recording("ollama_chat_text", delay=1.0)
    server.script("/api/chat", slow)

    [result] = await check_models([ModelSpec(ref="ollama:qwen2.5:1.5b", options={"host": server.url})],
                                  timeout=0.2)

    assert not result.ok and result.reason == "no answer within 0.2s; the model may still be loading, try again"


async def test_openai_compatible_endpoint(server: FakeServer) -> None:
    server.script("/v1/chat/completions", Reply(200, {
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}))

    [result] = await check_models([ModelSpec(ref="openai:m", options={"base_url": f"{server.url}/v1"})])

    assert result == ModelCheck(name="openai:m", ref="openai:m", ok=True, local=True,
                                latency_ms=result.latency_ms, capabilities=result.capabilities, reply="OK")
    assert server.bodies("/v1/chat/completions")[0]["max_tokens"] == 4
