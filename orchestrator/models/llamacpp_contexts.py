"""Loaded llama.cpp models and their contexts: the weights once per process, a few contexts each.

The high-level llama-cpp-python API decodes one sequence per context, and a context is not
thread-safe, so one context answers one call at a time. A :class:`ContextPool` holds a
loaded model's contexts: the first is the ``Llama`` object that loaded the weights; more are
opened on demand (when every open one is busy, up to the model entry's ``options.contexts``)
on the same ``llama_model``, so the weights are not loaded again: each extra context costs
its KV cache and compute buffers (measured with Gemma 3 270M and short prompts: 45 MB resident
per extra context, against 320 MB for a second copy of the model; llama.cpp reserves more
address space for the compute buffer, about 0.5 GB for a 512-token prompt batch over Gemma's
262k-token vocabulary, resident only as far as prompts use it). A call takes a free context
(the one whose cached tokens share the longest start with the call's prompt, then the first
one: a lone caller keeps its prompt cache, and calls on the same document go back to the
context that has read it), or waits for one.

Threads: the first context is created with the model entry's threads (``options.n_threads``,
else llama.cpp's defaults: half the CPUs for generation, all of them for prompts). A call that
takes a context while others are busy gives it that budget divided by the calls decoding now,
itself included (at least one thread each), so contexts decoding at once share the cores
instead of oversubscribing them, and a lone call keeps every thread it had before the pool.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.logging import get_logger
from orchestrator.models.loading import cpu_count, report_load_start, settle_heap

log = get_logger(__name__)

_WAIT_S = 0.05
"""How often a call waiting for a context checks whether its caller gave up."""


def default_contexts() -> int:
    """Contexts per model when the entry does not say: one per CPU, at most four."""
    return max(1, min(4, cpu_count()))


class Abandoned(Exception):
    """The caller gave up before the worker thread got a context."""


@dataclass
class _Context:
    llama: Any
    busy: bool = False
    threads: tuple[int, int] | None = None
    """Its (generation, prompt) threads as last set by the pool; None: as created."""


def fork(base: Any) -> Any:
    """A new ``Llama`` sharing ``base``'s loaded weights (``llama_model``) with its own context,
    batch and token state; ``base`` must outlive it (:meth:`ContextPool.close` sees to that)."""
    import llama_cpp
    import numpy as np
    from llama_cpp import _internals

    params = llama_cpp.llama_context_params.from_buffer_copy(base.context_params)
    forked = object.__new__(type(base))
    forked.__dict__.update(base.__dict__)  # model, tokenizer, chat handlers, settings: shared, read-only
    forked._stack = contextlib.ExitStack()
    forked.context_params = params
    forked._ctx = forked._stack.enter_context(contextlib.closing(
        _internals.LlamaContext(model=base._model, params=params, verbose=False)))
    forked._batch = forked._stack.enter_context(contextlib.closing(
        _internals.LlamaBatch(n_tokens=base.n_batch, embd=0, n_seq_max=params.n_ctx, verbose=False)))
    if base._lora_adapter is not None:  # the adapter is loaded once too; each context applies it
        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(base._lora_adapter)
        scales = (ctypes.c_float * 1)(base.lora_scale)
        if llama_cpp.llama_set_adapters_lora(forked._ctx.ctx, adapters, 1, scales):
            forked._stack.close()
            raise RuntimeError(f"cannot apply the LoRA adapter {base.lora_path} to a new context")
    forked._candidates = _internals.LlamaTokenDataArray(n_vocab=base._n_vocab)
    forked.input_ids = np.ndarray(base.input_ids.shape, dtype=np.intc)
    forked.scores = np.ndarray(base.scores.shape, dtype=np.single)
    forked.n_tokens = 0
    forked._requires_eval = True
    forked._sampler = None
    forked._mirostat_mu = ctypes.c_float(base._mirostat_mu.value)
    forked.cache = None
    return forked


def _best(free: list[_Context], tokens: list[int] | None) -> _Context | None:
    """The free context that has read the longest start of ``tokens`` (ties: the first)."""
    if len(free) < 2 or not tokens:
        return free[0] if free else None
    return max(free, key=lambda c: _shared_start(c.llama, tokens))


def _shared_start(llama: Any, tokens: list[int]) -> int:
    cached = llama.input_ids[: llama.n_tokens]
    length = min(len(cached), len(tokens))
    if not length:
        return 0
    import numpy as np

    differ = np.flatnonzero(cached[:length] != np.asarray(tokens[:length], dtype=cached.dtype))
    return int(differ[0]) if differ.size else length


class ContextPool:
    """One loaded model's contexts; :meth:`context` lends a free one to a call."""

    def __init__(self, base: Any, *, threads: tuple[int, int] = (1, 1)):
        self.base = base
        self.threads = threads
        """The (generation, prompt) thread budget: what the first context was created with."""
        self._contexts = [_Context(base)]
        self._opening = 0
        self._cap: int | None = None  # set when opening a context failed: no more are tried
        self._changed = threading.Condition()

    @property
    def size(self) -> int:
        """Contexts open now."""
        with self._changed:
            return len(self._contexts)

    @contextlib.contextmanager
    def context(self, limit: int, stop: threading.Event, prompt: str | None = None) -> Iterator[Any]:
        """A free context (a ``Llama``) for the block, opening one when every open one is busy and
        fewer than ``limit`` are open; waits otherwise. Among free ones, the one that has read the
        longest start of ``prompt`` (when given). Raises :class:`Abandoned` once ``stop`` is set."""
        tokens = self.base.tokenize(prompt.encode()) if prompt and limit > 1 else None
        taken, busy = self._take(limit, stop, tokens)
        share = (max(1, self.threads[0] // busy), max(1, self.threads[1] // busy))
        if share != (taken.threads or self.threads):
            self._set_threads(taken.llama, share)
        taken.threads = share
        try:
            yield taken.llama
        finally:
            with self._changed:
                taken.busy = False
                self._changed.notify()

    def _take(self, limit: int, stop: threading.Event, tokens: list[int] | None) -> tuple[_Context, int]:
        """A context for the caller, and how many are busy with it."""
        for _ in range(1_000_000):  # bounded: a wait lasts at most as long as the caller's timeout
            with self._changed:
                if stop.is_set():
                    raise Abandoned
                free = _best([c for c in self._contexts if not c.busy], tokens)
                if free is not None:
                    free.busy = True
                    return free, self._busy()
                if len(self._contexts) + self._opening >= min(limit, self._cap or limit):
                    self._changed.wait(_WAIT_S)
                    continue
                self._opening += 1
            opened = self._open()
            with self._changed:
                self._opening -= 1
                if opened is not None:
                    self._contexts.append(opened)
                    return opened, self._busy()
                self._cap = len(self._contexts)
        raise Abandoned

    def _busy(self) -> int:
        return sum(1 for c in self._contexts if c.busy)

    def _set_threads(self, llama: Any, threads: tuple[int, int]) -> None:
        import llama_cpp

        llama_cpp.llama_set_n_threads(llama.ctx, *threads)

    def _open(self) -> _Context | None:
        started = time.perf_counter()
        try:
            llama = fork(self.base)
        except Exception as exc:  # llama.cpp raises plain exceptions (out of memory, ...)
            log.warning("model.context_failed", path=self.base.model_path, contexts=len(self._contexts),
                        error=f"{type(exc).__name__}: {exc}")
            return None
        log.info("model.context_opened", path=self.base.model_path, contexts=len(self._contexts) + 1,
                 seconds=round(time.perf_counter() - started, 3))
        return _Context(llama, busy=True)

    def close(self) -> None:
        """Free every context, the extra ones before the one that holds the weights."""
        with self._changed:
            for extra in self._contexts[1:]:
                extra.llama._stack.close()
            self.base.close()
            self._contexts = self._contexts[:1]


_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, int, bool], ContextPool] = {}


def load(ref: str, path: str, n_ctx: int, embedding: bool, extra: dict[str, Any]) -> tuple[ContextPool, float]:
    """The contexts of ``path`` (its weights loaded once per process, by whichever client comes
    first, whose options set the threads); blocking, run it in a thread. Returns them and the
    seconds spent loading or waiting for another thread's load (0 when it was loaded already)."""
    import llama_cpp

    _quiet_llama_cpp(llama_cpp)
    key = (path, n_ctx, embedding)
    started = time.perf_counter()
    waiting = key not in _LOADED  # not loaded yet: this call waits for a load, its own or another's
    with _LOAD_LOCK:
        pool = _LOADED.get(key)
        if pool is None:
            report_load_start(ref)
            kwargs: dict[str, Any] = {"n_ctx": n_ctx, "verbose": False, "embedding": embedding, **extra}
            if embedding:
                kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
            if not _LOADED:
                atexit.register(close_all)
            llama = llama_cpp.Llama(model_path=path, **kwargs)
            threads = (int(llama.context_params.n_threads), int(llama.context_params.n_threads_batch))
            pool = _LOADED[key] = ContextPool(llama, threads=threads)
            log.info("model.loaded", path=path, n_ctx=n_ctx, embedding=embedding, threads=threads,
                     seconds=round(time.perf_counter() - started, 2), heap_frozen=settle_heap())
        return pool, time.perf_counter() - started if waiting else 0.0


def close_all() -> None:
    """Free loaded models at exit, while llama.cpp's module is still intact (its ``__del__``
    fails noisily once the interpreter has started tearing modules down)."""
    with _LOAD_LOCK:
        for pool in _LOADED.values():
            pool.close()
        _LOADED.clear()


_LOG_CALLBACK: Any = None


def _quiet_llama_cpp(llama_cpp: Any) -> None:
    """Route llama.cpp's own log lines (it prints some even with ``verbose=False``, a warning
    among them at error level) to this module's logger at debug level instead of stderr."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def route(level: int, text: bytes, user_data: Any) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            log.debug("llama_cpp.log", level=level, message=message)

    _LOG_CALLBACK = route  # kept referenced: llama.cpp holds only a C pointer to it
    llama_cpp.llama_log_set(route, ctypes.c_void_p(0))


__all__ = ["Abandoned", "ContextPool", "close_all", "cpu_count", "default_contexts", "fork", "load"]
