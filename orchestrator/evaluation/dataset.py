"""Labelled datasets: rows of a JSONL or CSV file mapped to a target's inputs and expected answers.

::

    mapping = ColumnMap.parse(inputs=["ticket=text"], expect=["category=label", "summary=gold:rouge"])
    cases = list(read_cases("tickets.jsonl", mapping))

``--input NAME=COLUMN`` feeds column ``COLUMN`` to input ``NAME``; ``--expect FIELD=COLUMN`` says
that the answer's ``FIELD`` (dotted for nested fields: ``fields.email``) should equal the
column's value, compared by ``:normalised`` match (the default), ``:exact`` match or ``:rouge``
(ROUGE F-measures, for summaries). Without ``--input`` every column that is not expected (nor
``id``) is an input under its own name. The files are read as batch files are
(:mod:`orchestrator.engine.batch_files`): an ``id`` column names an item, else its line number.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestrator.engine.batch import BatchItem
from orchestrator.engine.batch_files import read_items
from orchestrator.errors import InputError

Metric = Literal["normalised", "exact", "rouge"]
METRICS: tuple[Metric, ...] = ("normalised", "exact", "rouge")


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expected answer field: where it is in the answer, which column holds it, how to compare."""

    field: str
    """The answer's field, dotted for nested ones (``fields.email``)."""
    column: str
    metric: Metric = "normalised"

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.field.split("."))


@dataclass(frozen=True)
class ColumnMap:
    """How a dataset's columns become inputs (``inputs``: input name -> column) and expectations."""

    expect: tuple[Expectation, ...]
    inputs: dict[str, str] = field(default_factory=dict)
    """Empty: every column not expected is an input of the same name."""

    @classmethod
    def parse(cls, *, expect: Sequence[str], inputs: Sequence[str] = ()) -> ColumnMap:
        """From ``--expect FIELD=COLUMN[:METRIC]`` and ``--input NAME=COLUMN`` strings."""
        if not expect:
            raise InputError("nothing to score: give at least one --expect FIELD=COLUMN (e.g. "
                             "--expect category=label), naming an answer field and the column holding its "
                             "expected value")
        expectations = [_expectation(text) for text in expect]
        fields = [e.field for e in expectations]
        if len(set(fields)) != len(fields):
            twice = sorted(f for f in set(fields) if fields.count(f) > 1)
            raise InputError(f"--expect names a field twice: {', '.join(twice)}; score each field once")
        names: dict[str, str] = {}
        for text in inputs:
            name, column = _pair(text, "--input", "NAME=COLUMN", "ticket=text")
            if name in names:
                raise InputError(f"--input {text!r}: input {name!r} is mapped twice")
            names[name] = column
        return cls(expect=tuple(expectations), inputs=names)

    def case(self, item: BatchItem, where: str) -> Case:
        """The inputs and expected values of one row (InputError naming the row and what is missing)."""
        row = item.inputs
        missing = [e.column for e in self.expect if e.column not in row]
        missing += [column for column in self.inputs.values() if column not in row]
        if missing:
            columns = ", ".join(sorted(row)) or "none"
            raise InputError(f"{where}: no column {', '.join(repr(m) for m in dict.fromkeys(missing))} "
                             f"(this row has: {columns}); fix --input/--expect or the file")
        expected = {e.field: row[e.column] for e in self.expect}
        if self.inputs:
            values = {name: row[column] for name, column in self.inputs.items()}
        else:
            taken = {e.column for e in self.expect}
            values = {name: value for name, value in row.items() if name not in taken}
        return Case(id=item.id, index=item.index, inputs=values, expected=expected)


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled item: the target's inputs and the expected value of each scored field."""

    id: str
    index: int
    inputs: dict[str, Any]
    expected: dict[str, Any]


def read_cases(path: str | Path, mapping: ColumnMap) -> Iterator[Case]:
    """The labelled cases of a ``.jsonl`` or ``.csv`` file (InputError for a bad file or row)."""
    if not Path(path).is_file():
        raise InputError(f"dataset {str(path)!r}: no such file; give a .jsonl or .csv file of labelled items")
    for item in read_items(path):
        yield mapping.case(item, f"{path} item {item.id}")


def _expectation(text: str) -> Expectation:
    name, column = _pair(text, "--expect", "FIELD=COLUMN[:METRIC]", "category=label")
    metric = "normalised"
    if ":" in column:
        column, _, metric = column.rpartition(":")
        if metric not in METRICS:
            raise InputError(f"--expect {text!r}: unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if not column:
        raise InputError(f"--expect {text!r}: the column is empty; write FIELD=COLUMN[:METRIC]")
    return Expectation(field=name, column=column, metric=metric)  # type: ignore[arg-type]


def _pair(text: str, option: str, shape: str, example: str) -> tuple[str, str]:
    name, sep, column = text.partition("=")
    name, column = name.strip(), column.strip()
    if not sep or not name or not column:
        raise InputError(f"{option} {text!r}: write {shape}, e.g. {option} {example}")
    return name, column


__all__ = ["METRICS", "Case", "ColumnMap", "Expectation", "Metric", "read_cases"]
