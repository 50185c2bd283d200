"""Dataset mapping: --input/--expect parsing, JSONL and CSV rows, and clear errors for bad mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InputError
from orchestrator.evaluation import ColumnMap, read_cases


def test_expectations_and_inputs_parse_with_metrics() -> None:
    mapping = ColumnMap.parse(expect=["category=label", "summary=gold:rouge", "fields.email=email:exact"],
                              inputs=["ticket=text"])
    assert [(e.field, e.column, e.metric) for e in mapping.expect] == [
        ("category", "label", "normalised"), ("summary", "gold", "rouge"), ("fields.email", "email", "exact")]
    assert mapping.expect[2].path == ("fields", "email")
    assert mapping.inputs == {"ticket": "text"}


@pytest.mark.parametrize(("expect", "inputs", "message"), [
    ([], [], "give at least one --expect"),
    (["category"], [], "write FIELD=COLUMN"),
    (["category=label:fuzzy"], [], "unknown metric 'fuzzy'"),
    (["category=:rouge"], [], "the column is empty"),
    (["a=x", "a=y"], [], "names a field twice: a"),
    (["a=x"], ["ticket"], "--input 'ticket': write NAME=COLUMN"),
    (["a=x"], ["t=x", "t=y"], "input 't' is mapped twice"),
])
def test_bad_mappings_say_what_to_write(expect: list[str], inputs: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ColumnMap.parse(expect=expect, inputs=inputs)


def test_jsonl_rows_become_cases_and_unmapped_columns_are_inputs(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "t1", "text": "hello", "label": "greeting", "lang": "en"}\n\n'
                    '{"text": "bye", "label": "farewell", "lang": "en"}\n', encoding="utf-8")
    cases = list(read_cases(data, ColumnMap.parse(expect=["intent=label"])))
    assert [c.id for c in cases] == ["t1", "3"]  # an id column, else the line number
    assert cases[0].inputs == {"text": "hello", "lang": "en"} and cases[0].expected == {"intent": "greeting"}
    mapped = list(read_cases(data, ColumnMap.parse(expect=["intent=label"], inputs=["ticket=text"])))
    assert mapped[1].inputs == {"ticket": "bye"}


def test_csv_rows_are_read_by_header(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,category\nI was charged twice,billing\n", encoding="utf-8")
    (case,) = read_cases(data, ColumnMap.parse(expect=["label=category"], inputs=["text=text"]))
    assert case.inputs == {"text": "I was charged twice"} and case.expected == {"label": "billing"}


def test_a_missing_column_names_the_row_and_the_columns_it_has(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a", "label": "x"}\n{"text": "b", "lable": "y"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"item 2: no column 'label' \(this row has: lable, text\)"):
        list(read_cases(data, ColumnMap.parse(expect=["intent=label"])))
    with pytest.raises(InputError, match="no column 'body'"):
        list(read_cases(data, ColumnMap.parse(expect=["intent=label"], inputs=["text=body"])))


def test_a_missing_or_malformed_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_cases(tmp_path / "nope.jsonl", ColumnMap.parse(expect=["a=b"])))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl:1: not a JSON object"):
        list(read_cases(bad, ColumnMap.parse(expect=["a=b"])))
