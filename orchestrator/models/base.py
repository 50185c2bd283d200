"""The model interface every backend implements, and the data it returns.

A model is anything with ``complete`` (chat in, text or a schema-valid object
out) and, where it can, ``embed``. Backends differ in how they constrain
output; each declares that in its :class:`Capabilities` so specialists
consult the record instead of guessing. A backend that can rank given
continuations by log-likelihood declares ``Capabilities.scoring`` and is a
:class:`ScoringModel` (``score`` and ``choose``); :func:`scoring_model` is how
a caller gets that typed view of a model, never ``getattr``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import ModelError

Role = Literal["system", "user", "assistant"]
StructuredOutput = Literal["json_schema", "json_mode", "grammar", "prompt", "none"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


def system(content: str) -> Message:
    return Message(role="system", content=content)


def user(content: str) -> Message:
    return Message(role="user", content=content)


def assistant(content: str) -> Message:
    return Message(role="assistant", content=content)


class Usage(BaseModel):
    """Tokens a call consumed."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class Completion(BaseModel):
    """What a model answered, with what it cost in tokens and time."""

    text: str
    """The raw text the model produced."""
    parsed: Any = None
    """The JSON value parsed from ``text`` when a schema was requested and it parsed."""
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    model: str = ""
    """The model reference that answered, e.g. ``ollama:qwen2.5:1.5b``."""
    local: bool = True
    """Whether the answering model runs on this deployment's own hardware."""
    endpoint: str | None = None
    """The server that answered, for a model with several endpoints (replicas); else None."""
    token_logprobs: list[float] | None = None
    """Log-probability of each generated token, where the backend reports them."""


class Capabilities(BaseModel):
    """What a model can do; specialists read this instead of guessing."""

    structured_output: StructuredOutput = "prompt"
    """How output is constrained to a JSON schema: natively, JSON mode, grammar, or by prompt."""
    logprobs: bool = False
    embeddings: bool = False
    scoring: bool = False
    """Ranks given continuations by log-likelihood: the model is a :class:`ScoringModel`."""
    streaming: bool = False
    """Hands out free text as it is generated: the model is a :class:`StreamingModel`."""
    context_size: int = 4096
    """Context window in tokens."""
    local: bool = True
    """Runs on the deployment's own hardware: may receive confidential data."""
    parameters_b: float | None = None
    """Model size in billions of parameters, where known (used to pick grounded strategies)."""


@runtime_checkable
class Model(Protocol):
    """A chat model (and, where supported, an embedder)."""

    @property
    def ref(self) -> str:
        """The model reference, e.g. ``ollama:qwen2.5:1.5b``."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """Answer ``messages``; with ``schema``, the answer is JSON valid for it (best effort
        where the backend can only be prompted) and ``Completion.parsed`` holds it."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed ``texts``; raises :class:`~orchestrator.errors.ModelError` if unsupported."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ScoringModel(Model, Protocol):
    """A model that scores given continuations of a prompt (``Capabilities.scoring``)."""

    async def score(self, prompt: str, options: Sequence[str]) -> list[float]:
        """The total log-likelihood of each option as the continuation of ``prompt``, in order;
        raises :class:`~orchestrator.errors.ModelError` for an empty ``options``."""
        ...

    async def choose(self, prompt: str, options: Sequence[str]) -> tuple[str, float]:
        """The likeliest option and its probability among ``options`` (see :func:`choice`)."""
        ...


TextDeltas = Callable[[str], Awaitable[None]]
"""Receives each piece of text a streaming model produces, in order, as it is produced."""


@runtime_checkable
class StreamingModel(Model, Protocol):
    """A model that streams free text as it generates it (``Capabilities.streaming``)."""

    async def stream(
        self,
        messages: Sequence[Message],
        on_delta: TextDeltas,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """Answer ``messages`` as :meth:`Model.complete` does without a schema, awaiting
        ``on_delta`` with each piece of text as it is produced; the Completion holds the whole
        answer (its ``text`` may be stripped of the whitespace the pieces started with)."""
        ...


def streaming_model(model: Model) -> StreamingModel | None:
    """``model`` as a :class:`StreamingModel` when its capabilities declare streaming, else None."""
    if not model.capabilities.streaming:
        return None
    if not isinstance(model, StreamingModel):
        raise ModelError(model.ref, "declares capabilities.streaming but has no stream method")
    return model


def scoring_model(model: Model) -> ScoringModel | None:
    """``model`` as a :class:`ScoringModel` when its capabilities declare scoring, else None."""
    if not model.capabilities.scoring:
        return None
    if not isinstance(model, ScoringModel):
        raise ModelError(model.ref, "declares capabilities.scoring but has no score/choose methods")
    return model


def choice(options: Sequence[str], scores: Sequence[float]) -> tuple[str, float]:
    """The best-scored option and its probability (softmax of the log-likelihoods ``scores``)."""
    peak = max(scores)
    weights = [math.exp(s - peak) for s in scores]
    best = max(range(len(options)), key=scores.__getitem__)
    return options[best], weights[best] / sum(weights)


def estimate_tokens(text: str) -> int:
    """A backend-free token estimate (about four characters a token)."""
    return max(1, (len(text) + 3) // 4) if text else 0


def messages_tokens(messages: Sequence[Message]) -> int:
    return sum(estimate_tokens(m.content) + 4 for m in messages)


__all__ = [
    "Capabilities",
    "Completion",
    "Message",
    "Model",
    "Role",
    "ScoringModel",
    "StreamingModel",
    "StructuredOutput",
    "TextDeltas",
    "Usage",
    "assistant",
    "choice",
    "estimate_tokens",
    "messages_tokens",
    "scoring_model",
    "streaming_model",
    "system",
    "user",
]
