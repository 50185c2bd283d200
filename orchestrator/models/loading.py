"""Model loading: how long loading weights took, told apart from answering.

An in-process backend (llama.cpp) loads a model's weights on its first call, which takes
seconds. It calls :func:`report_load` when it did load; whoever wants to know listens with
:func:`recording_loads` (the executor, around each step: the step's ``latency_ms`` leaves the
load out and ``load_ms`` says what it was; ``orchestrator models check``, to show that a model is
loading). Outside a listener, reports go nowhere.

A load also settles the heap (:func:`settle_heap`): loading an encoder imports transformers and
builds a tokenizer, some 400,000 objects that live as long as the process, and Python's cyclic
collector would otherwise walk all of them on every full collection, which at 32 concurrent runs
cost about a third of the time (bench/volume.py).

In-process backends size themselves (llama.cpp contexts, encoder processes and their threads)
to :func:`cpu_count`, the CPUs this process may run on.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Load:
    """One model load."""

    model: str
    seconds: float


@dataclass
class Loads:
    """The loads reported within one :func:`recording_loads` block."""

    loads: list[Load] = field(default_factory=list)
    on_start: Callable[[str], None] | None = None
    """Told the model reference when a load begins (progress for people waiting)."""

    @property
    def seconds(self) -> float:
        return sum(load.seconds for load in self.loads)


_CURRENT: contextvars.ContextVar[Loads | None] = contextvars.ContextVar("orchestrator_loads", default=None)


@contextlib.contextmanager
def recording_loads(on_start: Callable[[str], None] | None = None) -> Iterator[Loads]:
    """Collect the loads reported within the block (and in tasks it starts); without ``on_start``,
    an enclosing block's is told when a load begins."""
    outer = _CURRENT.get()
    loads = Loads(on_start=on_start or (outer.on_start if outer is not None else None))
    token = _CURRENT.set(loads)
    try:
        yield loads
    finally:
        _CURRENT.reset(token)


def report_load_start(model: str) -> None:
    """A backend is about to load ``model``'s weights."""
    current = _CURRENT.get()
    if current is not None and current.on_start is not None:
        current.on_start(model)


def report_load(model: str, seconds: float) -> None:
    """A backend loaded ``model``'s weights, taking ``seconds``."""
    current = _CURRENT.get()
    if current is not None:
        current.loads.append(Load(model, seconds))


def cpu_count() -> int:
    """CPUs this process may run on (what an in-process backend sizes its threads, contexts or
    encoder processes to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


GC_FREEZE_ENV = "ORCHESTRATOR_GC_FREEZE"
"""Set to ``0`` to leave the garbage collector alone after model loads."""


def settle_heap() -> bool:
    """Collect garbage, then move every object alive into the collector's permanent generation
    (:func:`gc.freeze`), so later collections scan only what was allocated since. Called once a
    backend loaded a model's weights. Frozen objects are still freed when their last reference
    goes; only a reference cycle among them is kept for good (the collection before the freeze
    leaves none behind at that moment). Returns whether it froze (not when ``ORCHESTRATOR_GC_FREEZE=0``)."""
    if os.environ.get(GC_FREEZE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    gc.collect()
    gc.freeze()
    return True


__all__ = ["GC_FREEZE_ENV", "Load", "Loads", "cpu_count", "recording_loads", "report_load", "report_load_start",
           "settle_heap"]
