"""Batch files: items read from JSONL or CSV, results appended to a JSONL file that a re-run resumes.

An input row is one JSON object per line (``.jsonl``/``.ndjson``) or one CSV row with a
header (``.csv``), read by :mod:`orchestrator.datasets`; its columns are the workflow's inputs.
A column named ``id`` names the item (and is not an input); without one the item's id is its
line number, so a re-run over the same file skips the same items. Blank lines are skipped.

The results file holds one :class:`~orchestrator.engine.batch.ItemResult` per line,
written as each item ends (flushed, so a stop at any moment loses at most the line being
written; a torn last line is ignored on reading).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from orchestrator.datasets import read_rows
from orchestrator.engine.batch import BatchItem, ItemResult
from orchestrator.errors import InputError

ID_COLUMN = "id"
"""The input column that names an item."""


def read_items(path: str | Path) -> Iterator[BatchItem]:
    """The items of a ``.jsonl`` or ``.csv`` file, in order (InputError for a malformed row)."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"--input-file {str(file)!r}: no such file")
    for index, (line, row) in enumerate(read_rows(file, holding=" of inputs")):
        given = row.pop(ID_COLUMN, None)
        yield BatchItem(id=str(given) if given not in (None, "") else str(line), inputs=row, index=index, line=line)


def count_items(path: str | Path) -> int:
    """How many items :func:`read_items` will yield (for the progress line's ETA)."""
    return sum(1 for _ in read_items(path))


def read_results(path: str | Path) -> dict[str, ItemResult]:
    """The results recorded in a results file, by item id (the last line for an id wins)."""
    file = Path(path)
    results: dict[str, ItemResult] = {}
    if not file.exists():
        return results
    with file.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                result = ItemResult.model_validate_json(text)
            except ValueError:  # a torn last line from an abrupt stop: that item runs again
                continue
            results[result.id] = result
    return results


def done_ids(path: str | Path, *, retry_failed: bool = False) -> set[str]:
    """Ids a re-run skips: every recorded item, or with ``retry_failed`` only the ones that succeeded."""
    return {i for i, r in read_results(path).items() if r.ok or not retry_failed}


class ResultsFile:
    """Appends results to a JSONL file, one flushed line each (``with ResultsFile(path) as out``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._handle: IO[str] | None = None

    def __enter__(self) -> ResultsFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        self._handle = self.path.open("a", encoding="utf-8")
        if torn:  # end the torn line so the next result starts on its own
            self._handle.write("\n")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, result: ItemResult) -> None:
        if self._handle is None:
            raise RuntimeError("ResultsFile.write outside its with block")
        self._handle.write(result.model_dump_json() + "\n")
        self._handle.flush()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"


__all__ = ["ID_COLUMN", "ResultsFile", "count_items", "done_ids", "read_items", "read_results"]
