"""Token streaming: who listens to a generative answer while it is produced.

A specialist asks for free text with :func:`generate` instead of
``model.complete``. When someone is listening in the current context (the
executor listens around every step, turning pieces into ``step.delta``
events) and the model streams (``Capabilities.streaming``), the answer is
streamed and each piece handed to the listener as it comes; otherwise
:func:`generate` is exactly ``model.complete``. Leading whitespace of an
answer is not handed out (backends strip it from the final text too).

Each :func:`generate` call is one *draft*: the listener is told which (a
counter per listener), so a consumer can tell a repair or an escalation's new
answer from the continuation of the previous one.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from orchestrator.models.base import Completion, Message, Model, streaming_model

DraftListener = Callable[[str, int, str], Awaitable[None]]
"""Receives ``(piece, draft, model_ref)`` for each piece of each streamed answer."""


@dataclass
class _Listening:
    listener: DraftListener
    drafts: int = 0


_CURRENT: contextvars.ContextVar[_Listening | None] = contextvars.ContextVar("orchestrator_deltas", default=None)


@contextlib.contextmanager
def listening(listener: DraftListener) -> Iterator[None]:
    """Within the block (and tasks started in it), :func:`generate` streams to ``listener``."""
    token = _CURRENT.set(_Listening(listener))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def is_listening() -> bool:
    """Whether a :func:`generate` call here would stream to someone."""
    return _CURRENT.get() is not None


async def generate(model: Model, messages: Sequence[Message], *, max_tokens: int | None = None,
                   temperature: float = 0.0, logprobs: bool = False) -> Completion:
    """A free-text answer from ``model``, streamed to the current listener when there is one and
    the model streams; the same Completion ``model.complete`` would give otherwise."""
    listening_now = _CURRENT.get()
    streamer = streaming_model(model) if listening_now is not None else None
    if listening_now is None or streamer is None:
        return await model.complete(messages, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs)
    listening_now.drafts += 1
    draft, ref, started = listening_now.drafts, model.ref, False

    async def hand_out(piece: str) -> None:
        nonlocal started
        if not started:
            piece = piece.lstrip()
            started = bool(piece)
        if piece:
            await listening_now.listener(piece, draft, ref)

    return await streamer.stream(messages, hand_out, max_tokens=max_tokens, temperature=temperature,
                                 logprobs=logprobs)


__all__ = ["DraftListener", "generate", "is_listening", "listening"]
