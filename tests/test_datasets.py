"""The one JSONL/CSV reader: rows with their line numbers, and errors naming the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.agents._head import read_examples
from orchestrator.agents._ranker import read_labelled
from orchestrator.datasets import read_rows
from orchestrator.engine.batch_files import read_items
from orchestrator.errors import InputError


def test_jsonl_rows_keep_their_line_numbers_and_skip_blank_lines(tmp_path: Path) -> None:
    file = tmp_path / "items.ndjson"
    file.write_text('{"a": 1}\n\n  \n{"a": [], "b": "x"}\n', encoding="utf-8")
    assert list(read_rows(file)) == [(1, {"a": 1}), (4, {"a": [], "b": "x"})]


def test_csv_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    file = tmp_path / "items.CSV"
    file.write_text("text,label\nhello,greet\n,\nbye,leave\n", encoding="utf-8")
    assert list(read_rows(file)) == [(2, {"text": "hello", "label": "greet"}), (4, {"text": "bye", "label": "leave"})]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", '{"a": 1}\n{oops}\n', r"bad.jsonl:2: not a JSON object \(.*\); each line must be one JSON object"),
    ("bad.jsonl", '{"a": 1}\n\n[1, 2]\n', r"bad.jsonl:3: a list, not a JSON object"),
    ("bad.csv", "", r"bad.csv: a CSV file needs a header row"),
    ("bad.csv", "a\n1\n1,2\n", r"bad.csv:3: more values than the header has columns"),
    ("items.txt", "{}", r"items.txt: not a data file this reads: name it .jsonl or .ndjson .* or .csv"),
])
def test_a_bad_file_is_refused_naming_the_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    file = tmp_path / name
    file.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        list(read_rows(file))


def test_batch_inputs_examples_and_labelled_documents_share_it(tmp_path: Path) -> None:
    """Each caller says what a line must hold; the line number and the wording are the reader's."""
    file = tmp_path / "rows.jsonl"
    file.write_text('{"text": "a", "label": "b", "fields": {}}\n"just text"\n', encoding="utf-8")
    for read, holds in ((lambda: list(read_items(file)), "of inputs"),
                        (lambda: read_examples(file), "with text and label"),
                        (lambda: read_labelled(file), 'like {"text": ..., "fields": {...}}')):
        with pytest.raises(InputError) as refused:
            read()
        assert str(refused.value).endswith(f"rows.jsonl:2: a str, not a JSON object {holds}")
