"""OllamaModel against recorded Ollama responses served over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest
from fake_server import FakeServer, recording

from orchestrator.errors import ModelError, ModelRequestBlocked, ModelTimeout
from orchestrator.models.base import system, user
from orchestrator.models.ollama import OllamaModel
from orchestrator.models.spec import ModelSpec, create_model

pytestmark = pytest.mark.allow_model_requests

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["billing", "bug"]}, "confidence": {"type": "number"}},
    "required": ["label", "confidence"],
}


def make(url: str, **overrides: Any) -> OllamaModel:
    options = {"host": url, "retry_backoff": 0.01, **overrides.pop("options", {})}
    return OllamaModel(ModelSpec(ref="ollama:qwen2.5:1.5b", options=options, **overrides))


async def test_chat_sends_schema_options_and_keep_alive(server: FakeServer) -> None:
    server.script("/api/chat", recording("ollama_chat_format"))
    model = make(server.url, options={"num_ctx": 8192, "keep_alive": "10m", "options": {"seed": 7}})

    completion = await model.complete([system("Classify."), user("I was charged twice")],
                                      schema=SCHEMA, max_tokens=64, temperature=0.2)

    [sent] = server.bodies("/api/chat")
    assert sent["model"] == "qwen2.5:1.5b"
    assert sent["messages"] == [{"role": "system", "content": "Classify."},
                                {"role": "user", "content": "I was charged twice"}]
    assert sent["format"] == SCHEMA
    assert sent["options"] == {"seed": 7, "temperature": 0.2, "num_ctx": 8192, "num_predict": 64}
    assert sent["keep_alive"] == "10m"
    assert sent["stream"] is False
    assert completion.parsed == {"label": "billing", "confidence": 0.92}
    assert completion.usage.input_tokens == 57 and completion.usage.output_tokens == 17
    assert completion.model == "ollama:qwen2.5:1.5b" and completion.local is True
    assert completion.latency_ms > 0
    await model.aclose()


async def test_plain_chat_has_no_format_and_no_parsed_value(server: FakeServer) -> None:
    server.script("/api/chat", recording("ollama_chat_text"))
    model = make(server.url)

    completion = await model.complete([user("Say OK")])

    [sent] = server.bodies("/api/chat")
    assert "format" not in sent and "num_predict" not in sent["options"]
    assert completion.text == "OK" and completion.parsed is None
    await model.aclose()


async def test_embed_batches_texts_in_one_request(server: FakeServer) -> None:
    server.script("/api/embed", recording("ollama_embed"))
    model = make(server.url)

    vectors = await model.embed(["first text", "second text"])

    assert server.bodies("/api/embed") == [{"model": "qwen2.5:1.5b", "input": ["first text", "second text"]}]
    assert len(vectors) == 2 and len(vectors[0]) == 8
    assert vectors[0][0] == pytest.approx(0.010071029)
    await model.aclose()


async def test_embed_on_a_model_without_embeddings_is_a_clear_error_not_retried(server: FakeServer) -> None:
    server.script("/api/embed", recording("ollama_embed_unsupported"), recording("ollama_embed"))
    model = make(server.url, retries=3)

    with pytest.raises(ModelError) as caught:
        await model.embed(["some text"])

    assert caught.value.status == 400 and caught.value.retryable is False
    assert "does not support embeddings" in str(caught.value)
    assert len(server.requests) == 1
    await model.aclose()


async def test_missing_model_is_not_retried_and_says_how_to_pull(server: FakeServer) -> None:
    server.script("/api/chat", recording("ollama_model_not_found"), recording("ollama_chat_text"))
    model = make(server.url, retries=3)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("hi")])

    assert caught.value.status == 404 and caught.value.retryable is False
    assert "ollama pull qwen2.5:1.5b" in str(caught.value)
    assert len(server.requests) == 1
    await model.aclose()


async def test_server_error_is_retried_then_succeeds(server: FakeServer) -> None:
    server.script("/api/chat", recording("ollama_server_error"), recording("ollama_server_error"),
                  recording("ollama_chat_text"))
    model = make(server.url, retries=2)

    completion = await model.complete([user("hi")])

    assert completion.text == "OK"
    assert len(server.requests) == 3
    await model.aclose()


async def test_server_error_gives_up_after_the_configured_retries(server: FakeServer) -> None:
    server.script("/api/chat", *[recording("ollama_server_error")] * 3)
    model = make(server.url, retries=1)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("hi")])

    assert caught.value.status == 500 and caught.value.retryable is True
    assert "llama runner process has terminated" in caught.value.reason
    assert len(server.requests) == 2
    await model.aclose()


async def test_slow_server_times_out_after_the_retries(server: FakeServer) -> None:
    server.script("/api/chat", *[recording("ollama_chat_text", delay=1.0)] * 3)
    model = make(server.url, timeout=0.2, retries=1)

    with pytest.raises(ModelTimeout) as caught:
        await model.complete([user("hi")])

    assert caught.value.seconds == 0.2
    assert len(server.requests) == 2
    await model.aclose()


async def test_refused_connection_says_to_start_ollama(refused_url: str) -> None:
    model = make(refused_url, retries=0)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("hi")])

    assert caught.value.retryable is True
    assert f"connection refused at {refused_url}" in caught.value.reason
    assert "ollama serve" in caught.value.reason
    await model.aclose()


async def test_host_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch, server: FakeServer) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    server.script("/api/chat", recording("ollama_chat_text"))
    model = create_model(ModelSpec(ref="ollama:qwen2.5:1.5b"))

    assert isinstance(model, OllamaModel) and model.host == server.url
    assert (await model.complete([user("hi")])).text == "OK"
    await model.aclose()


def test_capabilities_follow_the_spec() -> None:
    model = make("http://127.0.0.1:1", local=False, options={"num_ctx": 32768})

    caps = model.capabilities
    assert caps.structured_output == "json_schema" and caps.embeddings is True
    assert caps.logprobs is False and caps.local is False and caps.context_size == 32768
    assert make("http://127.0.0.1:1").capabilities.context_size == 4096


async def test_blocked_without_opt_in(server: FakeServer) -> None:
    from orchestrator.models import guard

    model = make(server.url)
    with guard.model_requests(allowed=False), pytest.raises(ModelRequestBlocked):
        await model.complete([user("hi")])
    assert server.requests == []
    await model.aclose()
