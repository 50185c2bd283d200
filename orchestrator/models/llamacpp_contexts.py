"""Loaded llama.cpp models and their contexts: the weights once per process, a few contexts each.

The high-level llama-cpp-python API decodes one sequence per context, and a context is not
thread-safe, so one context answers one call at a time. A :class:`ContextPool` holds a
loaded model's contexts: the first is the ``Llama`` object that loaded the weights; more are
opened on demand (when every open one is busy, up to the model entry's ``options.contexts``)
on the same ``llama_model``, so the weights are not loaded again: each extra context costs
its KV cache and compute buffers (about 45 MB for Gemma 3 270M at ``n_ctx = 2048``). A
call takes a free context (base first, so a lone caller keeps the base context's prompt
cache), or waits for one.

Threads: with several contexts, each gets ``n_threads // contexts`` threads (at least one),
``n_threads`` being ``options.n_threads`` or the CPUs this process may use, so contexts
decoding at once do not oversubscribe the cores. With one context llama.cpp's own defaults
stand, as before.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator.logging import get_logger
from orchestrator.models.loading import report_load_start

log = get_logger(__name__)

_WAIT_S = 0.05
"""How often a call waiting for a context checks whether its caller gave up."""


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_contexts() -> int:
    """Contexts per model when the entry does not say: one per CPU, at most four."""
    return max(1, min(4, cpu_count()))


def context_threads(contexts: int, n_threads: int | None) -> int | None:
    """Threads for each of ``contexts`` contexts sharing ``n_threads`` (default: the CPUs), or None
    with one context (llama.cpp's defaults)."""
    if contexts <= 1:
        return n_threads
    return max(1, (n_threads or cpu_count()) // contexts)


class Abandoned(Exception):
    """The caller gave up before the worker thread got a context."""


@dataclass
class _Context:
    llama: Any
    busy: bool = False


def fork(base: Any, threads: int | None) -> Any:
    """A new ``Llama`` sharing ``base``'s loaded weights (``llama_model``) with its own context,
    batch and token state; ``base`` must outlive it (:meth:`ContextPool.close` sees to that)."""
    import llama_cpp
    import numpy as np
    from llama_cpp import _internals

    params = llama_cpp.llama_context_params.from_buffer_copy(base.context_params)
    if threads is not None:
        params.n_threads = params.n_threads_batch = threads
    forked = object.__new__(type(base))
    forked.__dict__.update(base.__dict__)  # model, tokenizer, chat handlers, settings: shared, read-only
    forked._stack = contextlib.ExitStack()
    forked.context_params = params
    forked._ctx = forked._stack.enter_context(contextlib.closing(
        _internals.LlamaContext(model=base._model, params=params, verbose=False)))
    forked._batch = forked._stack.enter_context(contextlib.closing(
        _internals.LlamaBatch(n_tokens=base.n_batch, embd=0, n_seq_max=params.n_ctx, verbose=False)))
    forked._candidates = _internals.LlamaTokenDataArray(n_vocab=base._n_vocab)
    forked.input_ids = np.ndarray(base.input_ids.shape, dtype=np.intc)
    forked.scores = np.ndarray(base.scores.shape, dtype=np.single)
    forked.n_tokens = 0
    forked._requires_eval = True
    forked._sampler = None
    forked._mirostat_mu = ctypes.c_float(base._mirostat_mu.value)
    forked.cache = None
    return forked


class ContextPool:
    """One loaded model's contexts; :meth:`context` lends a free one to a call."""

    def __init__(self, base: Any, *, threads: int | None = None):
        self.base = base
        self.threads = threads
        """Threads of each context opened after the first."""
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
    def context(self, limit: int, stop: threading.Event) -> Iterator[Any]:
        """A free context (a ``Llama``) for the block, opening one when every open one is busy and
        fewer than ``limit`` are open; waits otherwise. Raises :class:`Abandoned` once ``stop`` is set."""
        taken = self._take(limit, stop)
        try:
            yield taken.llama
        finally:
            with self._changed:
                taken.busy = False
                self._changed.notify()

    def _take(self, limit: int, stop: threading.Event) -> _Context:
        for _ in range(1_000_000):  # bounded: a wait lasts at most as long as the caller's timeout
            with self._changed:
                if stop.is_set():
                    raise Abandoned
                free = next((c for c in self._contexts if not c.busy), None)
                if free is not None:
                    free.busy = True
                    return free
                if len(self._contexts) + self._opening >= min(limit, self._cap or limit):
                    self._changed.wait(_WAIT_S)
                    continue
                self._opening += 1
            opened = self._open()
            with self._changed:
                self._opening -= 1
                if opened is not None:
                    self._contexts.append(opened)
                    return opened
                self._cap = len(self._contexts)
        raise Abandoned

    def _open(self) -> _Context | None:
        started = time.perf_counter()
        try:
            llama = fork(self.base, self.threads)
        except Exception as exc:  # llama.cpp raises plain exceptions (out of memory, ...)
            log.warning("model.context_failed", path=self.base.model_path, contexts=len(self._contexts),
                        error=f"{type(exc).__name__}: {exc}")
            return None
        log.info("model.context_opened", path=self.base.model_path, contexts=len(self._contexts) + 1,
                 threads=self.threads, seconds=round(time.perf_counter() - started, 3))
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


def load(ref: str, path: str, n_ctx: int, embedding: bool, extra: dict[str, Any],
         contexts: int) -> tuple[ContextPool, float]:
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
            threads = context_threads(contexts, extra.get("n_threads"))
            kwargs: dict[str, Any] = {"n_ctx": n_ctx, "verbose": False, "embedding": embedding, **extra}
            if threads is not None:
                kwargs.setdefault("n_threads", threads)
                kwargs.setdefault("n_threads_batch", threads)
            if embedding:
                kwargs.setdefault("pooling_type", llama_cpp.LLAMA_POOLING_TYPE_MEAN)
            if not _LOADED:
                atexit.register(close_all)
            pool = _LOADED[key] = ContextPool(llama_cpp.Llama(model_path=path, **kwargs), threads=threads)
            log.info("model.loaded", path=path, n_ctx=n_ctx, embedding=embedding, contexts=contexts,
                     threads=threads, seconds=round(time.perf_counter() - started, 2))
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


__all__ = ["Abandoned", "ContextPool", "close_all", "context_threads", "cpu_count", "default_contexts", "fork",
           "load"]
