"""Distilled versions of a specialist on disk: every candidate kept, one of them live, rollback.

Layout under ``[learning] versions_dir``::

    <dir>/<specialist>/v0001/artefact.json   what the learner fitted (plain JSON)
    <dir>/<specialist>/v0001/meta.json       VersionInfo: data hash, metrics, date, promoted
    <dir>/<specialist>/current.json          {"version": "v0003"}: the live one

Promoting (or rolling back) copies the version's artefact to the specialist's live path with
an atomic rename, so a process that reads that file (a worker's classifier) sees either the old
artefact or the new one, never half of one, and picks the new one up at its next step.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.errors import InputError


class VersionInfo(BaseModel):
    """One distilled candidate: what it was fitted on and how it scored."""

    version: str
    specialist: str
    kind: str
    created: float = Field(default_factory=time.time)
    data_hash: str
    examples: int
    """Examples it was fitted on (the training split)."""
    held_out: int
    accuracy: float | None = None
    """Its accuracy on the held-out examples (None: nothing held out)."""
    current_accuracy: float | None = None
    """The live version's accuracy on the same held-out examples (None: there was none)."""
    threshold: float | None = None
    """The confidence threshold keeping ``target_accuracy`` on the held-out examples (None: none does)."""
    threshold_coverage: float | None = None
    """The share of held-out examples answered at that threshold."""
    target_accuracy: float = 0.95
    promoted: bool = False
    fit_seconds: float = 0.0

    @property
    def date(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.created)) + " UTC"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (readers never see a partial file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Versions:
    """The versions of one specialist in ``root / specialist``."""

    def __init__(self, root: str | Path, specialist: str) -> None:
        self.specialist = specialist
        self.folder = Path(root) / specialist

    def list(self) -> list[VersionInfo]:
        """Every version, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [VersionInfo.model_validate_json((d / "meta.json").read_text("utf-8"))
                 for d in sorted(self.folder.iterdir()) if (d / "meta.json").is_file()]
        return sorted(found, key=lambda v: v.version)

    def current(self) -> str | None:
        """The live version's name, or None before the first promotion."""
        pointer = self.folder / "current.json"
        if not pointer.is_file():
            return None
        return str(json.loads(pointer.read_text("utf-8"))["version"])

    def artefact(self, version: str) -> dict[str, Any]:
        path = self.folder / version / "artefact.json"
        if not path.is_file():
            known = ", ".join(v.version for v in self.list()) or "none"
            raise InputError(f"{self.specialist} has no version {version!r} (versions: {known})")
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return data

    def add(self, info: VersionInfo, artefact: dict[str, Any]) -> VersionInfo:
        """Keep a new candidate under the next version name (``info.version`` is replaced)."""
        existing = [v.version for v in self.list()]
        number = max((int(v[1:]) for v in existing), default=0) + 1
        info = info.model_copy(update={"version": f"v{number:04d}"})
        folder = self.folder / info.version
        write_atomically(folder / "artefact.json", json.dumps(artefact))
        write_atomically(folder / "meta.json", info.model_dump_json(indent=2))
        return info

    def activate(self, version: str, live_path: Path) -> VersionInfo:
        """Make ``version`` the live one: its artefact goes to ``live_path`` and the pointer moves."""
        artefact = self.artefact(version)
        write_atomically(live_path, json.dumps(artefact))
        write_atomically(self.folder / "current.json", json.dumps({"version": version}))
        info = next(v for v in self.list() if v.version == version)
        if not info.promoted:
            info = info.model_copy(update={"promoted": True})
            write_atomically(self.folder / version / "meta.json", info.model_dump_json(indent=2))
        return info

    def rollback(self, live_path: Path, to: str | None = None) -> VersionInfo:
        """Go back to ``to``, or to the promoted version before the live one."""
        if to is None:
            current = self.current()
            earlier = [v for v in self.list() if v.promoted and current is not None and v.version < current]
            if not earlier:
                raise InputError(f"{self.specialist} has no earlier promoted version to roll back to "
                                 f"(live: {current or 'none'}); name one with --to")
            to = earlier[-1].version
        return self.activate(to, live_path)


__all__ = ["VersionInfo", "Versions", "write_atomically"]
