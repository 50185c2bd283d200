"""Ollama through its native API: JSON-schema ``format``, options, ``keep_alive``, embeddings.

``ollama:qwen2.5:1.5b`` talks to ``options.host``, else ``$OLLAMA_HOST``, else
``http://127.0.0.1:11434``. Spec options: ``num_ctx`` (context window, default
4096), ``keep_alive`` (e.g. ``"10m"``), ``options`` (further Ollama options
such as ``seed`` or ``top_k``; a call's own temperature and max_tokens win).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import httpx
import ollama

from orchestrator.errors import ModelError, ModelTimeout
from orchestrator.models._resilience import CallPolicy, connection_error, parse_json, status_error
from orchestrator.models.base import Capabilities, Completion, Message, TextDeltas, Usage
from orchestrator.models.spec import ModelSpec

DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaModel:
    """A model served by Ollama (``ollama:<name>``)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.host = str(spec.options.get("host") or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST)
        self._client = ollama.AsyncClient(host=self.host)
        self._policy = CallPolicy(spec, self._classify)
        self._num_ctx = int(spec.options.get("num_ctx", 4096))
        self._capabilities = Capabilities(
            structured_output="json_schema", embeddings=True, logprobs=False,
            local=spec.is_local, context_size=self._num_ctx,
            parameters_b=spec.options.get("parameters_b"),
            streaming=True,
        )

    @property
    def ref(self) -> str:
        return self.spec.ref

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        response, latency_ms = await self._policy.run("chat", lambda: self._client.chat(
            **self._request(messages, max_tokens, temperature), format=schema))
        text = response.message.content or ""
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            usage=Usage(input_tokens=response.prompt_eval_count or 0, output_tokens=response.eval_count or 0),
            latency_ms=latency_ms,
            model=self.ref,
            local=self._capabilities.local,
        )

    async def stream(
        self,
        messages: Sequence[Message],
        on_delta: TextDeltas,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """A free-text answer with ``stream=True``: each message piece goes to ``on_delta`` as it
        arrives; the last part (``done``) carries the token counts."""

        async def request(send: TextDeltas) -> tuple[str, Usage]:
            parts = await self._client.chat(**self._request(messages, max_tokens, temperature), stream=True)
            text, usage = "", Usage()
            async for part in parts:
                if part.message.content:
                    text += part.message.content
                    await send(part.message.content)
                if part.done:
                    usage = Usage(input_tokens=part.prompt_eval_count or 0, output_tokens=part.eval_count or 0)
            return text, usage

        (text, usage), latency_ms = await self._policy.stream(request, on_delta)
        return Completion(text=text, usage=usage, latency_ms=latency_ms, model=self.ref,
                          local=self._capabilities.local)

    def _request(self, messages: Sequence[Message], max_tokens: int | None, temperature: float) -> dict[str, Any]:
        """The chat request's keywords every call shares."""
        options: dict[str, Any] = {**self.spec.options.get("options", {}), "temperature": temperature,
                                   "num_ctx": self._num_ctx}
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        return {"model": self.spec.model_id, "messages": [{"role": m.role, "content": m.content} for m in messages],
                "options": options, "keep_alive": self.spec.options.get("keep_alive")}

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        response, _ = await self._policy.run("embed", lambda: self._client.embed(
            model=self.spec.model_id, input=list(texts), keep_alive=self.spec.options.get("keep_alive"),
        ))
        return [list(vector) for vector in response.embeddings]

    async def aclose(self) -> None:
        await self._client.close()  # type: ignore[no-untyped-call]

    def _classify(self, exc: Exception) -> ModelError | None:
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and "not found" in str(exc.error):
                return ModelError(self.ref, f"{exc.error} (HTTP 404); pull it with `ollama pull "
                                  f"{self.spec.model_id}`", status=404)
            return status_error(self.ref, exc.status_code, str(exc.error))
        if isinstance(exc, httpx.TimeoutException):
            return ModelTimeout(self.ref, self.spec.timeout)
        if isinstance(exc, ConnectionError):  # the ollama client's wrap of a refused connection
            return connection_error(self.ref, self.host, "is Ollama running? start it with `ollama serve`")
        if isinstance(exc, httpx.TransportError):
            return connection_error(self.ref, self.host, what=f"connection failed ({type(exc).__name__})")
        return None


__all__ = ["DEFAULT_HOST", "OllamaModel"]
