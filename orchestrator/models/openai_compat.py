"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, llama.cpp's server, Ollama's ``/v1``.

``openai:gpt-4o-mini`` with spec options:

- ``base_url``: the endpoint (default OpenAI's); a localhost URL makes the model local.
- ``api_key_env``: the environment variable holding the key (default ``OPENAI_API_KEY``).
- ``structured_output``: ``json_schema`` (default), ``json_mode``, ``prompt`` or ``none``.
- ``context_size`` (default 8192), ``logprobs`` and ``embeddings`` (default false),
  ``parameters_b``: what the endpoint's model can do, as :class:`Capabilities` reports it.

Structured output degrades by itself: when the endpoint rejects a
``response_format`` (HTTP 400/422 naming it, or a 500 as llama.cpp's server
sends), the client tries the next way down (``json_schema`` → ``json_object`` with the schema, as llama.cpp's server
takes it → plain ``json_object`` → the schema in the prompt) and remembers
the way that worked for the rest of its life.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import openai

from orchestrator.errors import ModelError, ModelTimeout
from orchestrator.logging import get_logger
from orchestrator.models._resilience import (
    CallPolicy,
    connection_error,
    parse_json,
    schema_instruction,
    status_error,
)
from orchestrator.models.base import Capabilities, Completion, Message, StructuredOutput, TextDeltas, Usage
from orchestrator.models.spec import ModelSpec

log = get_logger(__name__)

Mode = Literal["json_schema", "json_object_schema", "json_object", "prompt"]
_LADDER: tuple[Mode, ...] = ("json_schema", "json_object_schema", "json_object", "prompt")
_START: dict[str, Mode] = {"json_schema": "json_schema", "json_mode": "json_object",
                           "prompt": "prompt", "none": "prompt", "grammar": "json_object_schema"}
_REPORTED: dict[Mode, StructuredOutput] = {"json_schema": "json_schema", "json_object_schema": "json_schema",
                                           "json_object": "json_mode", "prompt": "prompt"}
_FORMAT_WORDS = ("response_format", "json_schema", "json_object")


class OpenAICompatibleModel:
    """A chat model behind an OpenAI-compatible HTTP API (``openai:<model>``)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        options = spec.options
        self.base_url = str(options.get("base_url") or "https://api.openai.com/v1")
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(str(options.get("api_key_env", "OPENAI_API_KEY"))) or "not-needed",
            max_retries=0,  # retries are the CallPolicy's
            timeout=spec.timeout,
        )
        self._policy = CallPolicy(spec, self._classify)
        requested = str(options.get("structured_output", "json_schema"))
        self._declared_none = requested == "none"
        self.mode: Mode = _START.get(requested, "json_schema")
        self._base_capabilities = Capabilities(
            local=spec.is_local,
            context_size=int(options.get("context_size", 8192)),
            logprobs=bool(options.get("logprobs", False)),
            embeddings=bool(options.get("embeddings", False)),
            parameters_b=options.get("parameters_b"),
            streaming=True,
        )

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def capabilities(self) -> Capabilities:
        """What the endpoint can do; ``structured_output`` follows the way that currently works."""
        reported: StructuredOutput = "none" if self._declared_none else _REPORTED[self.mode]
        return self._base_capabilities.model_copy(update={"structured_output": reported})

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        want_logprobs = logprobs and self._base_capabilities.logprobs
        while True:
            mode = self.mode
            try:
                return await self._complete(messages, schema, mode, max_tokens, temperature, want_logprobs)
            except ModelError as exc:
                if schema is None or mode == "prompt" or not _rejects_format(exc):
                    raise
                self._step_down(mode, exc)

    async def stream(
        self,
        messages: Sequence[Message],
        on_delta: TextDeltas,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """A free-text answer with ``stream: true``: each content delta goes to ``on_delta`` as it
        arrives; usage comes from the endpoint's last chunk (``stream_options.include_usage``)."""
        want_logprobs = logprobs and self._base_capabilities.logprobs

        async def request(send: TextDeltas) -> tuple[str, Usage, list[float] | None]:
            response = await self._client.chat.completions.create(  # type: ignore[call-overload]
                model=self.spec.model_id, messages=[{"role": m.role, "content": m.content} for m in messages],
                temperature=temperature, stream=True, stream_options={"include_usage": True},
                max_tokens=openai.omit if max_tokens is None else max_tokens,
                logprobs=True if want_logprobs else openai.omit)
            text, usage = "", Usage()
            token_logprobs: list[float] | None = [] if want_logprobs else None
            async for chunk in response:
                if chunk.usage is not None:
                    usage = Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if token_logprobs is not None and choice.logprobs is not None and choice.logprobs.content:
                    token_logprobs += [token.logprob for token in choice.logprobs.content]
                if choice.delta.content:
                    text += choice.delta.content
                    await send(choice.delta.content)
            return text, usage, token_logprobs or None

        (text, usage, token_logprobs), latency_ms = await self._policy.stream(request, on_delta)
        return Completion(text=text, usage=usage, latency_ms=latency_ms, model=self.ref, local=self.spec.is_local,
                          token_logprobs=token_logprobs)

    def _step_down(self, failed: Mode, exc: ModelError) -> None:
        if self.mode == failed:  # a concurrent call may have stepped down already
            self.mode = _LADDER[_LADDER.index(failed) + 1]
        log.warning("model.structured_output.downgraded", model=self.ref, rejected=failed, now=self.mode,
                    status=exc.status)

    async def _complete(self, messages: Sequence[Message], schema: dict[str, Any] | None, mode: Mode,
                        max_tokens: int | None, temperature: float, logprobs: bool) -> Completion:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        extra: dict[str, Any] = {}
        if schema is not None:
            if mode != "json_schema":
                payload = _with_instruction(payload, schema_instruction(schema))
            response_format = _response_format(mode, schema)
            if response_format is not None:
                extra["response_format"] = response_format
        if max_tokens is not None:
            extra["max_tokens"] = max_tokens
        if logprobs:
            extra["logprobs"] = True
        response, latency_ms = await self._policy.run("chat", lambda: self._client.chat.completions.create(
            model=self.spec.model_id, messages=payload, temperature=temperature, **extra,  # type: ignore[arg-type]
        ))
        if not response.choices:
            raise ModelError(self.ref, "the endpoint answered with no choices; check the model name")
        choice = response.choices[0]
        text = choice.message.content or ""
        token_logprobs = None
        if logprobs and choice.logprobs is not None and choice.logprobs.content is not None:
            token_logprobs = [token.logprob for token in choice.logprobs.content]
        usage = response.usage
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            usage=Usage(input_tokens=usage.prompt_tokens if usage else 0,
                        output_tokens=usage.completion_tokens if usage else 0),
            latency_ms=latency_ms,
            model=self.ref,
            local=self.spec.is_local,
            token_logprobs=token_logprobs,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not self._base_capabilities.embeddings:
            raise ModelError(self.ref, "this model is not configured for embeddings; set options.embeddings "
                             "= true if the endpoint serves /v1/embeddings for it")
        if not texts:
            return []
        response, _ = await self._policy.run("embed", lambda: self._client.embeddings.create(
            model=self.spec.model_id, input=list(texts)))
        return [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]

    async def aclose(self) -> None:
        await self._client.close()

    def _classify(self, exc: Exception) -> ModelError | None:
        if isinstance(exc, openai.APITimeoutError):
            return ModelTimeout(self.ref, self.spec.timeout)
        if isinstance(exc, openai.APIConnectionError):
            return connection_error(self.ref, self.base_url, "is the server running and the base_url right?")
        if isinstance(exc, openai.APIStatusError):
            detail = _detail(exc)
            if exc.status_code == 500 and "response_format" in detail:
                # llama.cpp's server answers an unsupported response_format with a 500
                return ModelError(self.ref, f"HTTP 500: {detail}", status=500)
            return status_error(self.ref, exc.status_code, detail)
        return None


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body))
        if isinstance(error, dict) and "message" in error:
            return str(error["message"])
        return str(error)
    return exc.message


def _rejects_format(exc: ModelError) -> bool:
    return exc.status in (400, 422, 500) and any(word in exc.reason.lower() for word in _FORMAT_WORDS)


def _response_format(mode: Mode, schema: dict[str, Any]) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    if mode == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


def _with_instruction(payload: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
    """Put ``instruction`` into the first system message (many chat templates allow only one)."""
    if payload and payload[0]["role"] == "system":
        return [{"role": "system", "content": f"{payload[0]['content']}\n\n{instruction}"}, *payload[1:]]
    return [{"role": "system", "content": instruction}, *payload]


__all__ = ["OpenAICompatibleModel"]
