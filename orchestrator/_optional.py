"""Optional dependencies: imported when first used, a :class:`MissingDependency` naming the extra when absent.

A plain ``pip install slm-orchestrator`` brings no numpy, sentence-transformers or llama.cpp,
so no module reachable from the CLI, the registry or the Orchestrator may import them when it
is imported. Two ways to defer such an import, both with the same clear error:

* :func:`lazy_module` stands for a module at module level; the first attribute used imports
  it and turns the stand-in into a plain module with the real one's namespace, so later uses
  cost what they cost on the real module::

      if TYPE_CHECKING:
          import numpy as np
      else:
          np = lazy_module("numpy", extra="embeddings", needed_for="the classifier's embedding mode")

* :func:`needs_extra` wraps ``import`` statements in the function that needs them (typed as usual)::

      with needs_extra("embeddings", needed_for="the st: embedding model"):
          from sentence_transformers import SentenceTransformer
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.errors import MissingDependency


@contextmanager
def needs_extra(name: str, *, needed_for: str) -> Iterator[None]:
    """Turn a missing module imported inside the block into a :class:`MissingDependency` naming ``name``.

    Only a module that is not there is translated; any other import failure (a broken build)
    propagates as it is.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        package = (exc.name or "a package").split(".")[0]
        raise MissingDependency(package, extra=name, needed_for=needed_for) from exc


class _LazyModule(types.ModuleType):
    """A stand-in for an optional module: imports it on first attribute use, then becomes a copy of it."""

    def __init__(self, name: str, *, extra: str, needed_for: str) -> None:
        super().__init__(name)
        self._extra = extra
        self._needed_for = needed_for

    def __getattr__(self, attr: str) -> Any:
        # Probes of special names (copy, inspect, hasattr) must not import, nor turn an
        # AttributeError into a missing dependency.
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        with needs_extra(self._extra, needed_for=self._needed_for):
            module = importlib.import_module(self.__name__)
        # From now on a plain module holding the real one's namespace, so each later use is an
        # ordinary module attribute lookup (importlib.util.LazyLoader does the same).
        self.__dict__.update(module.__dict__)
        self.__class__ = types.ModuleType  # type: ignore[assignment]  # a plain module from now on
        return getattr(self, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r} (extra {self._extra!r})>"


def lazy_module(name: str, *, extra: str, needed_for: str) -> Any:
    """A stand-in for module ``name``, imported on first use; raises :class:`MissingDependency` if absent.

    Typed ``Any``: import the real module under ``TYPE_CHECKING`` for type checkers.
    """
    return _LazyModule(name, extra=extra, needed_for=needed_for)


__all__ = ["lazy_module", "needs_extra"]
