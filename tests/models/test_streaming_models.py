"""Token streaming in the model clients: OpenAI-compatible and Ollama over real HTTP, the scripted
models, :func:`~orchestrator.models.streaming.generate` and the no-repeat retry rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_server import FakeServer, Reply

from orchestrator.errors import ModelError
from orchestrator.models import FunctionModel, ModelSpec, ScriptedModel
from orchestrator.models._resilience import CallPolicy
from orchestrator.models.base import Capabilities, TextDeltas, streaming_model, user
from orchestrator.models.ollama import OllamaModel
from orchestrator.models.openai_compat import OpenAICompatibleModel
from orchestrator.models.scripted import Chunks
from orchestrator.models.streaming import generate, is_listening, listening

pytestmark = pytest.mark.allow_model_requests


class Heard:
    """A delta listener that keeps what it heard."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, int, str]] = []

    async def __call__(self, piece: str, draft: int, model: str) -> None:
        self.pieces.append((piece, draft, model))


def sse(*events: dict[str, Any]) -> Reply:
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return Reply(200, body, content_type="text/event-stream")


def openai_chunk(content: str | None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    choices = [] if content is None else [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices,
            "usage": usage}


async def test_openai_compatible_streams_content_deltas_and_reads_usage_from_the_last_chunk(
        server: FakeServer) -> None:
    server.script("/v1/chat/completions", sse(
        openai_chunk(""), openai_chunk("The cat"), openai_chunk(" sat."),
        openai_chunk(None, {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})))
    model = OpenAICompatibleModel(ModelSpec(ref="openai:m", options={"base_url": f"{server.url}/v1"}))
    pieces: list[str] = []

    async def keep(piece: str) -> None:
        pieces.append(piece)

    completion = await model.stream([user("Summarise.")], keep, max_tokens=20)

    [sent] = server.bodies("/v1/chat/completions")
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == 20 and "logprobs" not in sent
    assert pieces == ["The cat", " sat."]
    assert completion.text == "The cat sat."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 3)
    assert model.capabilities.streaming


async def test_ollama_streams_message_parts_and_reads_counts_from_the_done_part(server: FakeServer) -> None:
    parts = [{"model": "q", "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": c},
              "done": False} for c in ("Hello", " there")]
    parts.append({"model": "q", "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""},
                  "done": True, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 2})
    server.script("/api/chat", Reply(200, "".join(json.dumps(p) + "\n" for p in parts),
                                     content_type="application/x-ndjson"))
    model = OllamaModel(ModelSpec(ref="ollama:q", options={"host": server.url}))
    pieces: list[str] = []

    async def keep(piece: str) -> None:
        pieces.append(piece)

    completion = await model.stream([user("hi")], keep, max_tokens=8)

    [sent] = server.bodies("/api/chat")
    assert sent["stream"] is True and sent["options"]["num_predict"] == 8
    assert pieces == ["Hello", " there"] and completion.text == "Hello there"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (9, 2)


async def test_a_stream_that_failed_after_a_piece_went_out_is_not_retried() -> None:
    spec = ModelSpec(ref="openai:m", retries=3, options={"retry_backoff": 0.001})
    policy = CallPolicy(spec, lambda exc: None)
    tries: list[int] = []

    async def flaky(send: TextDeltas, *, before: bool) -> str:
        tries.append(1)
        if not before:
            await send("Half")
        if len(tries) < 3:
            raise ModelError("openai:m", "HTTP 503: overloaded", retryable=True, status=503)
        await send("Whole")
        return "Whole"

    pieces: list[str] = []

    async def keep(piece: str) -> None:
        pieces.append(piece)

    with pytest.raises(ModelError, match="503"):
        await policy.stream(lambda send: flaky(send, before=False), keep)
    assert pieces == ["Half"] and len(tries) == 1  # a retry would have repeated what went out

    tries.clear()
    pieces.clear()
    text, _ = await policy.stream(lambda send: flaky(send, before=True), keep)
    assert text == "Whole" and pieces == ["Whole"] and len(tries) == 3  # nothing out yet: retried


async def test_scripted_models_stream_chunks_piece_by_piece_and_text_word_by_word() -> None:
    model = ScriptedModel([Chunks("Dr. ", "Smith ", "arrived."), "two words"], streaming=True)
    pieces: list[str] = []

    async def keep(piece: str) -> None:
        pieces.append(piece)

    first = await model.stream([user("a")], keep)
    assert pieces == ["Dr. ", "Smith ", "arrived."] and first.text == "Dr. Smith arrived."
    pieces.clear()
    second = await model.stream([user("b")], keep)
    assert pieces == ["two", " words"] and second.text == "two words"
    model.assert_complete()
    assert streaming_model(model) is model
    assert streaming_model(ScriptedModel(["x"])) is None  # streaming is opt-in
    assert streaming_model(FunctionModel(lambda c: "x", capabilities=Capabilities(), streaming=True)) is not None


async def test_generate_streams_only_to_a_listener_and_counts_drafts() -> None:
    model = FunctionModel(lambda call: Chunks("  ", " The", " answer"), ref="function:w", streaming=True)
    assert not is_listening()
    quiet = await generate(model, [user("q")])
    assert quiet.text == "   The answer"  # no listener: exactly model.complete

    heard = Heard()
    with listening(heard):
        assert is_listening()
        first = await generate(model, [user("q")])
        await generate(model, [user("q again")])
    assert first.text == "   The answer"
    assert heard.pieces == [("The", 1, "function:w"), (" answer", 1, "function:w"),
                            ("The", 2, "function:w"), (" answer", 2, "function:w")]  # leading blanks dropped
    assert not is_listening()


async def test_generate_falls_back_to_complete_for_a_model_that_does_not_stream() -> None:
    model = ScriptedModel(["plain answer"])
    heard = Heard()
    with listening(heard):
        completion = await generate(model, [user("q")])
    assert completion.text == "plain answer" and heard.pieces == []
    model.assert_complete()


async def test_a_model_that_claims_streaming_without_the_method_is_an_error() -> None:
    class Liar:
        ref = "liar:m"
        capabilities = Capabilities(streaming=True)

    with pytest.raises(ModelError, match="no stream method"):
        streaming_model(Liar())  # type: ignore[arg-type]
