"""Rows of a data file: one JSON object per line (``.jsonl``/``.ndjson``) or a CSV with a header.

The one reader behind batch input files (``--input-file``), training examples
(``train``, ``EmbeddingHead.fit_from_file``) and labelled documents (the span ranker)::

    for line, row in read_rows("items.jsonl"):      # (line number, {column: value})
        ...

Blank lines (and CSV rows of empty values) are skipped; line numbers count every line of the
file from 1, so an error and a result name the line a person sees in an editor. A malformed row
raises :class:`~orchestrator.errors.InputError` naming ``<file>:<line>`` and what is wrong, as
the row is reached (the rows are read lazily: ``list(...)`` them to check a whole file first).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.errors import InputError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)

Row = tuple[int, dict[str, Any]]
"""A row and the number of its line in the file."""


def read_rows(path: str | Path, *, holding: str = "") -> Iterator[Row]:
    """The rows of a JSONL or CSV file, chosen by its suffix. ``holding`` says what a JSON line
    must hold, for the error (e.g. ``" of inputs"``: "each line must be one JSON object of inputs")."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return csv_rows(file)
    if suffix in JSONL_SUFFIXES:
        return jsonl_rows(file, holding=holding)
    raise InputError(f"{file}: not a data file this reads: name it .jsonl or .ndjson (one JSON object a line) "
                     f"or .csv (a header row, then one row an item)")


def jsonl_rows(path: str | Path, *, holding: str = "") -> Iterator[Row]:
    """The JSON objects of a JSONL file, one a line (see :func:`read_rows`)."""
    file = Path(path)
    with file.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{file}:{line}: not a JSON object ({exc.msg}); each line must be one JSON "
                                 f"object{holding}") from None
            if not isinstance(row, dict):
                raise InputError(f"{file}:{line}: a {type(row).__name__}, not a JSON object{holding}")
            yield line, row


def csv_rows(path: str | Path) -> Iterator[Row]:
    """The rows of a CSV file with a header row, as ``{column: text}`` (see :func:`read_rows`)."""
    file = Path(path)
    with file.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise InputError(f"{file}: a CSV file needs a header row naming its columns")
        for row in reader:
            if None in row:
                raise InputError(f"{file}:{reader.line_num}: more values than the header has columns")
            if any(value for value in row.values()):
                yield reader.line_num, dict(row)


__all__ = ["CSV_SUFFIXES", "JSONL_SUFFIXES", "Row", "csv_rows", "jsonl_rows", "read_rows"]
