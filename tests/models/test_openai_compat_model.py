"""OpenAICompatibleModel against a real HTTP server on 127.0.0.1 that answers like OpenAI."""

from __future__ import annotations

from typing import Any

import pytest
from fake_server import FakeServer, Reply, Request

from orchestrator.errors import ModelError, ModelTimeout
from orchestrator.models.base import system, user
from orchestrator.models.openai_compat import OpenAICompatibleModel
from orchestrator.models.spec import ModelSpec

pytestmark = pytest.mark.allow_model_requests

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"label": {"type": "string"}},
                          "required": ["label"]}
CHAT = "/v1/chat/completions"


def chat_reply(content: str, *, logprobs: list[float] | None = None) -> Reply:
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content},
                              "logprobs": None, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": [{"token": f"t{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                                          for i, lp in enumerate(logprobs)]}
    return Reply(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1718000000, "model": "m",
                       "choices": [choice],
                       "usage": {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27}})


def openai_error(status: int, message: str, param: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                    "code": None}})


def make(url: str, **overrides: Any) -> OpenAICompatibleModel:
    options = {"base_url": f"{url}/v1", "retry_backoff": 0.01, **overrides.pop("options", {})}
    return OpenAICompatibleModel(ModelSpec(ref="openai:small-model", options=options, **overrides))


async def test_json_schema_request_and_answer(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMALL_MODEL_KEY", "sk-test-123")
    server.script(CHAT, chat_reply('{"label": "billing"}'))
    model = make(server.url, options={"api_key_env": "SMALL_MODEL_KEY"})

    completion = await model.complete([system("Classify."), user("charged twice")], schema=SCHEMA,
                                      max_tokens=32)

    [request] = server.requests
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.body["model"] == "small-model"
    assert request.body["messages"] == [{"role": "system", "content": "Classify."},
                                        {"role": "user", "content": "charged twice"}]
    assert request.body["response_format"] == {"type": "json_schema",
                                               "json_schema": {"name": "output", "schema": SCHEMA}}
    assert request.body["max_tokens"] == 32 and request.body["temperature"] == 0.0
    assert "logprobs" not in request.body
    assert completion.parsed == {"label": "billing"}
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (21, 6)
    assert completion.model == "openai:small-model" and completion.local is True
    await model.aclose()


async def test_rejected_json_schema_falls_back_and_is_remembered(server: FakeServer) -> None:
    def endpoint(request: Request) -> Reply:
        if request.body.get("response_format", {}).get("type") == "json_schema":
            return openai_error(400, "Invalid parameter: 'response_format' of type 'json_schema' is not "
                                "supported with this model.", "response_format")
        return chat_reply('{"label": "bug"}')

    server.respond(CHAT, endpoint)
    model = make(server.url)

    first = await model.complete([user("app crashes")], schema=SCHEMA)
    second = await model.complete([user("app crashes again")], schema=SCHEMA)

    bodies = server.bodies(CHAT)
    assert [b["response_format"]["type"] for b in bodies] == ["json_schema", "json_object", "json_object"]
    assert bodies[1]["response_format"]["schema"] == SCHEMA
    assert "JSON schema" in bodies[1]["messages"][0]["content"]  # the schema also goes in the prompt
    assert first.parsed == second.parsed == {"label": "bug"}
    assert model.mode == "json_object_schema"
    await model.aclose()


async def test_an_endpoint_without_response_format_gets_the_schema_in_the_prompt(server: FakeServer) -> None:
    def endpoint(request: Request) -> Reply:
        if "response_format" in request.body:  # FastAPI-style validation error, like llama.cpp's server
            problem = {"type": "literal_error", "loc": ["body", "response_format", "type"],
                       "msg": "Input should be 'text'"}
            return Reply(422, {"detail": [problem]})
        return chat_reply('```json\n{"label": "bug"}\n```')

    server.respond(CHAT, endpoint)
    model = make(server.url)

    completion = await model.complete([system("Classify."), user("crash")], schema=SCHEMA)

    bodies = server.bodies(CHAT)
    assert len(bodies) == 4
    final = bodies[-1]
    assert "response_format" not in final
    assert final["messages"][0]["role"] == "system"
    assert final["messages"][0]["content"].startswith("Classify.\n\nAnswer with only a JSON value")
    assert completion.parsed == {"label": "bug"}
    assert model.capabilities.structured_output == "prompt"
    await model.aclose()


async def test_llama_cpp_servers_500_for_json_schema_downgrades_without_retrying(server: FakeServer) -> None:
    def endpoint(request: Request) -> Reply:
        if request.body["response_format"]["type"] == "json_schema":
            return Reply(500, {"error": {"message": "1 validation error:\n  {'type': 'literal_error', 'loc': "
                                         "('body', 'response_format', 'type'), 'msg': \"Input should be "
                                         "'text' or 'json_object'\"}", "type": "internal_server_error",
                                         "param": None, "code": None}})
        return chat_reply('{"label": "bug"}')

    server.respond(CHAT, endpoint)
    model = make(server.url, retries=2)

    completion = await model.complete([user("crash")], schema=SCHEMA)

    assert [b["response_format"]["type"] for b in server.bodies(CHAT)] == ["json_schema", "json_object"]
    assert completion.parsed == {"label": "bug"} and model.mode == "json_object_schema"
    await model.aclose()


async def test_other_bad_requests_are_neither_retried_nor_downgraded(server: FakeServer) -> None:
    server.script(CHAT, openai_error(400, "This model's maximum context length is 8192 tokens."))
    model = make(server.url, retries=3)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("x")], schema=SCHEMA)

    assert caught.value.status == 400 and not caught.value.retryable
    assert "maximum context length" in caught.value.reason
    assert len(server.requests) == 1 and model.mode == "json_schema"
    await model.aclose()


async def test_unavailable_and_rate_limited_are_retried(server: FakeServer) -> None:
    server.script(CHAT, Reply(503, {"error": {"message": "Service Unavailable"}}),
                  openai_error(429, "Rate limit reached"), chat_reply("OK"))
    model = make(server.url, retries=2)

    completion = await model.complete([user("Say OK")])

    assert completion.text == "OK" and completion.parsed is None
    assert len(server.requests) == 3
    await model.aclose()


async def test_bad_api_key_is_not_retried_and_names_the_fix(server: FakeServer) -> None:
    server.script(CHAT, openai_error(401, "Incorrect API key provided."))
    model = make(server.url, retries=2)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("hi")])

    assert caught.value.status == 401 and "api_key_env" in caught.value.reason
    assert len(server.requests) == 1
    await model.aclose()


async def test_logprobs_when_configured_and_asked(server: FakeServer) -> None:
    server.script(CHAT, chat_reply("yes", logprobs=[-0.01, -0.5]), chat_reply("yes"))
    model = make(server.url, options={"logprobs": True})

    completion = await model.complete([user("ok?")], logprobs=True)
    plain = await model.complete([user("ok?")])

    first, second = server.bodies(CHAT)
    assert first["logprobs"] is True and "logprobs" not in second
    assert completion.token_logprobs == [-0.01, -0.5]
    assert plain.token_logprobs is None
    assert model.capabilities.logprobs is True
    await model.aclose()


async def test_embeddings_when_configured(server: FakeServer) -> None:
    server.script("/v1/embeddings", Reply(200, {
        "object": "list", "model": "small-model", "usage": {"prompt_tokens": 4, "total_tokens": 4},
        "data": [{"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
                 {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}]}))
    model = make(server.url, options={"embeddings": True})

    vectors = await model.embed(["a", "b"])

    assert vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert server.bodies("/v1/embeddings")[0]["input"] == ["a", "b"]
    await model.aclose()


async def test_embeddings_not_configured_fail_without_a_request(server: FakeServer) -> None:
    model = make(server.url)

    with pytest.raises(ModelError, match="not configured for embeddings"):
        await model.embed(["a"])
    assert server.requests == []
    await model.aclose()


async def test_refused_connection_is_retryable_and_names_the_url(refused_url: str) -> None:
    model = make(refused_url, retries=1)

    with pytest.raises(ModelError) as caught:
        await model.complete([user("hi")])

    assert caught.value.retryable and f"connection refused at {refused_url}/v1" in caught.value.reason
    await model.aclose()


async def test_slow_endpoint_times_out(server: FakeServer) -> None:
    late = chat_reply("late")
    server.script(CHAT, *[Reply(late.status, late.body, delay=1.0)] * 2)
    model = make(server.url, timeout=0.2, retries=1)

    with pytest.raises(ModelTimeout):
        await model.complete([user("hi")])
    assert len(server.requests) == 2
    await model.aclose()


def test_capabilities_from_options() -> None:
    remote = OpenAICompatibleModel(ModelSpec(ref="openai:gpt-4o-mini", options={"context_size": 128000}))
    assert remote.capabilities.local is False and remote.capabilities.context_size == 128000
    assert remote.capabilities.structured_output == "json_schema"
    json_mode = make("http://127.0.0.1:1", options={"structured_output": "json_mode", "embeddings": True})
    assert json_mode.capabilities.structured_output == "json_mode" and json_mode.capabilities.embeddings
    assert json_mode.capabilities.local is True
