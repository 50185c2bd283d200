"""Module paths that moved when the package took its layered layout, kept importable for a while.

``import orchestrator.app`` still works and warns (``DeprecationWarning``) that the module now
lives at ``orchestrator.engine.app``; the module it gives is the new one itself, so classes and
module state are shared. Submodules follow their package: ``orchestrator.cli.run`` resolves to
``orchestrator.interfaces.cli.run``.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

MOVED = {
    "orchestrator.app": "orchestrator.engine.app",
    "orchestrator.registry": "orchestrator.engine.registry",
    "orchestrator.planner": "orchestrator.engine.planner",
    "orchestrator.router": "orchestrator.engine.router",
    "orchestrator.executor": "orchestrator.engine.executor",
    "orchestrator.checkpoint": "orchestrator.store.checkpoint",
    "orchestrator.store.connection": "orchestrator.redis.connection",
    "orchestrator.store.signals": "orchestrator.redis.signals",
    "orchestrator.store.batching": "orchestrator.redis.batching",
    "orchestrator.cli": "orchestrator.interfaces.cli",
    "orchestrator.http": "orchestrator.interfaces.http",
    "orchestrator.chat": "orchestrator.interfaces.chat",
    "orchestrator.worker": "orchestrator.queue.worker",
    "orchestrator._queue_scripts": "orchestrator.queue.scripts",
}
"""Old module path -> where it lives now."""


def new_name(old: str) -> str | None:
    """Where the module once importable as ``old`` lives now, or None if it did not move."""
    for before, after in MOVED.items():
        if old == before or old.startswith(before + "."):
            return after + old[len(before):]
    return None


class _Alias:
    """Loads an old name by importing the new one and putting it in ``sys.modules`` in its place.

    A loader by protocol (``create_module``/``exec_module``), not by ``importlib.abc``: importing
    that costs the CLI's start-up tens of milliseconds."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: ModuleSpec) -> types.ModuleType:
        return types.ModuleType(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        warnings.warn(f"{module.__name__} moved to {self.target}; import it from there (the old path "
                      "will be removed)", DeprecationWarning, stacklevel=2)
        sys.modules[module.__name__] = importlib.import_module(self.target)


class MovedFinder:
    """Finds the old names of moved modules (and only those); a meta path finder by protocol."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> ModuleSpec | None:
        moved_to = new_name(fullname)
        if moved_to is None:
            return None
        return ModuleSpec(fullname, cast("Loader", _Alias(moved_to)))


def install() -> None:
    """Add the finder once (idempotent), first: it answers for the old names only, and must answer
    before the path finder would load ``orchestrator.cli.run`` a second time from the new folder."""
    if not any(isinstance(finder, MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())


__all__ = ["MOVED", "MovedFinder", "install", "new_name"]
