"""Models for tests and demos: replies come from a script, calls are recorded.

``ScriptedModel`` answers from a queue of replies; ``FunctionModel`` lets a
function decide each reply. Both record every call (messages and schema) so
tests can assert what was sent, and both embed text deterministically by
hashing words, so embedding-based specialists run without a real model.
Given scores (``ScriptedModel(scores=[[-0.1, -2.3]])``, or a ``scorer``
function for ``FunctionModel``) they are scoring models too
(``Capabilities.scoring``): ``score``/``choose`` answer from the script and
every call is recorded in ``score_calls``.
Made with ``streaming=True`` they are streaming models too
(``Capabilities.streaming``): ``stream`` hands out a :class:`Chunks` reply piece by
piece (any other text reply word by word), ``chunk_delay`` seconds apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from orchestrator.errors import ModelError
from orchestrator.models.base import (
    Capabilities,
    Completion,
    Message,
    TextDeltas,
    Usage,
    choice,
    estimate_tokens,
    messages_tokens,
)


class Chunks:
    """A text reply in the pieces ``stream`` hands out (``complete`` answers them joined)."""

    __slots__ = ("pieces",)

    def __init__(self, *pieces: str):
        self.pieces: tuple[str, ...] = pieces

    @property
    def text(self) -> str:
        return "".join(self.pieces)


Reply = str | dict[str, Any] | list[Any] | BaseModel | Completion | Chunks | BaseException
ReplyFunction = Callable[["ModelCall"], Reply | Awaitable[Reply]]
ScoreReply = Sequence[float] | Mapping[str, float] | BaseException
"""Log-likelihoods aligned with the options, or by option (a missing option scores -inf)."""
ScoreFunction = Callable[["ScoreCall"], ScoreReply | Awaitable[ScoreReply]]

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One recorded call."""

    messages: tuple[Message, ...]
    schema: dict[str, Any] | None
    max_tokens: int | None

    @property
    def prompt(self) -> str:
        """All message contents joined, for easy assertions."""
        return "\n".join(m.content for m in self.messages)

    @property
    def last_user(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True, slots=True)
class ScoreCall:
    """One recorded ``score`` (or ``choose``) call."""

    prompt: str
    options: tuple[str, ...]


def hash_embedding(text: str, dims: int = 256) -> list[float]:
    """A deterministic bag-of-words embedding: similar wording, similar vectors."""
    vec = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dims
        vec[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


@dataclass
class _Recorder:
    ref: str
    capabilities: Capabilities
    delay: float = 0.0
    chunk_delay: float = 0.0
    calls: list[ModelCall] = field(default_factory=list)
    embed_calls: list[tuple[str, ...]] = field(default_factory=list)
    score_calls: list[ScoreCall] = field(default_factory=list)

    def _completion(self, reply: Reply, call: ModelCall, started: float) -> Completion:
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        if isinstance(reply, Chunks):
            reply = reply.text
        if isinstance(reply, BaseModel):
            reply = reply.model_dump(mode="json")
        text = reply if isinstance(reply, str) else json.dumps(reply)
        parsed: Any = None
        if call.schema is not None:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        return Completion(
            text=text,
            parsed=parsed,
            usage=Usage(input_tokens=messages_tokens(call.messages), output_tokens=estimate_tokens(text)),
            latency_ms=(time.perf_counter() - started) * 1000,
            model=self.ref,
            local=self.capabilities.local,
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        started = time.perf_counter()
        call = ModelCall(tuple(messages), schema, max_tokens)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._completion(await self._reply(call), call, started)

    async def stream(
        self,
        messages: Sequence[Message],
        on_delta: TextDeltas,
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        logprobs: bool = False,
    ) -> Completion:
        """The reply ``complete`` would give, handed to ``on_delta`` piece by piece first."""
        if not self.capabilities.streaming:
            raise ModelError(self.ref, "this model does not stream (made without streaming=True)")
        started = time.perf_counter()
        call = ModelCall(tuple(messages), None, max_tokens)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = await self._reply(call)
        if isinstance(reply, Chunks):
            pieces: list[str] = list(reply.pieces)
        elif isinstance(reply, str):
            pieces = re.findall(r"\s*\S+", reply) or [reply]
        else:
            pieces = []
        for piece in pieces:
            await on_delta(piece)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        return self._completion(reply, call, started)

    async def _reply(self, call: ModelCall) -> Reply:
        raise NotImplementedError

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embed_calls.append(tuple(texts))
        if not self.capabilities.embeddings:
            raise ModelError(self.ref, "this model does not embed")
        return [hash_embedding(t) for t in texts]

    async def score(self, prompt: str, options: Sequence[str]) -> list[float]:
        call = ScoreCall(prompt, tuple(options))
        self.score_calls.append(call)
        if not self.capabilities.scoring:
            raise ModelError(self.ref, "this model does not score")
        if not options:
            raise ModelError(self.ref, "choose/score needs at least one option")
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = await self._score_reply(call)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Mapping):
            return [float(reply.get(option, -math.inf)) for option in options]
        if len(reply) != len(options):
            raise ModelError(self.ref, f"{len(reply)} scripted scores for {len(options)} options")
        return [float(s) for s in reply]

    async def choose(self, prompt: str, options: Sequence[str]) -> tuple[str, float]:
        return choice(options, await self.score(prompt, options))

    async def _score_reply(self, call: ScoreCall) -> ScoreReply:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


def _capabilities(local: bool, capabilities: Capabilities | None, scoring: bool, streaming: bool) -> Capabilities:
    if capabilities is not None:
        return capabilities.model_copy(update={"streaming": True}) if streaming else capabilities
    return Capabilities(structured_output="json_schema", embeddings=True, scoring=scoring, local=local,
                        context_size=8192, streaming=streaming)


class ScriptedModel(_Recorder):
    """Answers from a queue of replies, in order.

    A reply is text, a JSON-able value (sent as JSON text), a pydantic model, a
    ready :class:`Completion`, or an exception to raise. ``scores`` queue the
    answers of ``score``/``choose`` calls the same way (and make the model a
    scoring one). A call with no reply left raises :class:`ModelError`; since
    the router turns that into a failed attempt, ``assert_complete()`` checks
    both that every reply was used and that no call went unanswered.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        ref: str = "scripted:model",
        local: bool = True,
        delay: float = 0.0,
        capabilities: Capabilities | None = None,
        scores: Iterable[ScoreReply] | None = None,
        streaming: bool = False,
        chunk_delay: float = 0.0,
    ):
        caps = _capabilities(local, capabilities, scoring=scores is not None, streaming=streaming)
        super().__init__(ref=ref, capabilities=caps, delay=delay, chunk_delay=chunk_delay)
        self._replies: deque[Reply] = deque(replies)
        self._scores: deque[ScoreReply] = deque(scores or ())
        self.unanswered = 0
        """Calls (completions and scorings) that found no reply left."""

    def add(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def add_scores(self, *scores: ScoreReply) -> None:
        self._scores.extend(scores)

    @property
    def remaining(self) -> int:
        return len(self._replies)

    def assert_complete(self) -> None:
        """Fail if replies or scores are left over, or if a call found none left."""
        problems = []
        if self._replies:
            problems.append(f"{len(self._replies)} scripted replies were not used")
        if self._scores:
            problems.append(f"{len(self._scores)} scripted scores were not used")
        if self.unanswered:
            problems.append(f"{self.unanswered} calls found no scripted reply left")
        if problems:
            raise AssertionError(f"{self.ref}: " + "; ".join(problems))

    async def _reply(self, call: ModelCall) -> Reply:
        if not self._replies:
            self.unanswered += 1
            raise ModelError(self.ref, f"no scripted reply left for call {len(self.calls)}")
        return self._replies.popleft()

    async def _score_reply(self, call: ScoreCall) -> ScoreReply:
        if not self._scores:
            self.unanswered += 1
            raise ModelError(self.ref, f"no scripted scores left for score call {len(self.score_calls)}")
        return self._scores.popleft()


class FunctionModel(_Recorder):
    """A function decides each reply: ``FunctionModel(lambda call: {"label": "billing"})``.

    The function receives the :class:`ModelCall` and may be sync or async; so
    may ``scorer``, which receives a :class:`ScoreCall` and makes the model a
    scoring one.
    """

    def __init__(
        self,
        function: ReplyFunction,
        *,
        ref: str = "function:model",
        local: bool = True,
        delay: float = 0.0,
        capabilities: Capabilities | None = None,
        scorer: ScoreFunction | None = None,
        streaming: bool = False,
        chunk_delay: float = 0.0,
    ):
        caps = _capabilities(local, capabilities, scoring=scorer is not None, streaming=streaming)
        super().__init__(ref=ref, capabilities=caps, delay=delay, chunk_delay=chunk_delay)
        self._function = function
        self._scorer = scorer

    async def _reply(self, call: ModelCall) -> Reply:
        reply = self._function(call)
        return await reply if inspect.isawaitable(reply) else reply

    async def _score_reply(self, call: ScoreCall) -> ScoreReply:
        if self._scorer is None:
            raise ModelError(self.ref, "no scorer given to this FunctionModel")
        reply = self._scorer(call)
        return await reply if inspect.isawaitable(reply) else reply


__all__ = ["Chunks", "FunctionModel", "ModelCall", "Reply", "ReplyFunction", "ScoreCall", "ScoreFunction", "ScoreReply",
           "ScriptedModel", "hash_embedding"]
