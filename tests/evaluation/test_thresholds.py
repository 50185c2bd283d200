"""Writing measured thresholds into a configuration file: replaced in place, comments kept, checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError
from orchestrator.evaluation.thresholds import MARK, write_thresholds
from orchestrator.settings import Settings

CONFIG = """\
profile = "embedded"

# -- specialists
[specialists.classifier]
cascade = ["embed"]
# a guess: fails only answers at chance level
threshold = 0.2
options = { mode = "embedding" }

[specialists.extractor]
cascade = ["gemma"]
"""


def test_an_existing_threshold_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.toml"
    path.write_text(CONFIG, encoding="utf-8")
    text = write_thresholds(path, {"classifier": 0.61234567, "extractor": 0.4}, "tickets.jsonl (40 items)")
    parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    assert parsed["specialists"]["classifier"] == {"cascade": ["embed"], "threshold": 0.612345,
                                                   "options": {"mode": "embedding"}}
    assert parsed["specialists"]["extractor"]["threshold"] == 0.4
    assert "# a guess: fails only answers at chance level" in text and "# -- specialists" in text
    assert text.count(MARK) == 2 and f"{MARK}: tickets.jsonl (40 items)" in text
    assert Settings.load(path).specialists["classifier"].threshold == pytest.approx(0.612345)


def test_writing_again_replaces_the_measurement_comment(tmp_path: Path) -> None:
    path = tmp_path / "orchestrator.toml"
    path.write_text(CONFIG, encoding="utf-8")
    write_thresholds(path, {"classifier": 0.5}, "first")
    text = write_thresholds(path, {"classifier": 0.7}, "second")
    assert text.count(MARK) == 1 and "second" in text and "first" not in text
    assert tomllib.loads(text)["specialists"]["classifier"]["threshold"] == 0.7


def test_a_missing_table_or_file_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    write_thresholds(path, {"classifier": 0.33}, "n", profile="embedded")
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {"profile": "embedded",
                                                               "specialists": {"classifier": {"threshold": 0.33}}}
    other = tmp_path / "other.toml"
    other.write_text('default_sensitivity = "public"\n', encoding="utf-8")
    write_thresholds(other, {"summarizer": 0.9}, "n")
    assert tomllib.loads(other.read_text(encoding="utf-8"))["specialists"]["summarizer"]["threshold"] == 0.9


def test_a_file_the_edit_cannot_express_is_left_alone_with_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "inline.toml"
    original = '[specialists]\nclassifier = { threshold = 0.2 }\n'
    path.write_text(original, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"by hand.*\[specialists.classifier\] threshold = 0.8"):
        write_thresholds(path, {"classifier": 0.8}, "n")
    assert path.read_text(encoding="utf-8") == original


def test_thresholds_outside_zero_one_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        write_thresholds(tmp_path / "x.toml", {"classifier": 1.5}, "n")
