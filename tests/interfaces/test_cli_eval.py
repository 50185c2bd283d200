"""``orchestrator eval``: the table, --json, --html, --target-accuracy with --write-config, exit codes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from orchestrator.interfaces.cli import main
from tests.evaluation.deployment import rows

APP = "tests.evaluation.deployment:app"
SPEC = [("a", 0.9, "a"), ("b", 0.8, "b"), ("c", 0.3, "x"), ("d", 0.4, "d"), ("e", 0.7, "z"), ("f", 0.95, "f")]



@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows(SPEC)), encoding="utf-8")
    return path


def run(*args: str) -> int:
    return main(["eval", *args, "--app", APP, "--quiet"])


def test_the_table_shows_each_field(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("label_it", str(dataset), "--expect", "label=gold", "--input", "text=text") == 0
    out = capsys.readouterr().out
    assert "label_it on " in out and "6 items, 0 failed" in out
    row = next(line for line in out.splitlines() if line.startswith("label "))
    assert row.split()[:7] == ["label", "normalised", "83.3%", "66.7%", "33.3%", "0.0%", "75.0%"]
    assert "on function:big everywhere" in out and "label mistakes: e -> z (1)" in out


def test_json_is_the_whole_report(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("label_it", str(dataset), "--expect", "label=gold", "--json", "--target-accuracy", "0.95") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["items"] == 6 and report["thresholds"] == {"echo": 0.8}
    assert report["fields"][0]["calibration"]["coverage_at_threshold"] == pytest.approx(0.5)


def test_items_are_written_one_line_each_and_limit_cuts_the_set(dataset: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    assert run("label_it", str(dataset), "--expect", "label=gold", "--items", str(items), "--limit", "5") == 0
    lines = {row["id"]: row for row in map(json.loads, items.read_text(encoding="utf-8").splitlines())}
    assert sorted(lines) == ["1", "2", "3", "4", "5"]  # line numbers: the file has no id column
    e = lines["5"]["fields"]["label"]
    assert (e["expected"], e["predicted"], e["correct"], e["answered_by"], e["local_confidence"]) == (
        "e", "z", False, "local", 0.7)
    assert lines["3"]["fields"]["label"]["answered_by"] == "remote" and lines["3"]["fields"]["label"]["correct"]


def test_html_is_written(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    assert run("label_it", str(dataset), "--expect", "label=gold", "--html", str(page)) == 0
    assert f"report written to {page}" in capsys.readouterr().out
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.count("<svg") == 2 and "<script" not in text


def test_write_config_sets_the_measured_threshold(dataset: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "orchestrator.toml"
    config.write_text('[specialists.echo]\n# a guess\nthreshold = 0.5\n', encoding="utf-8")
    code = run("label_it", str(dataset), "--expect", "label=gold", "--target-accuracy", "0.95",
               "--write-config", str(config))
    assert code == 0 and f"thresholds written to {config}" in capsys.readouterr().out
    text = config.read_text(encoding="utf-8")
    assert tomllib.loads(text)["specialists"]["echo"]["threshold"] == 0.8
    assert "# a guess" in text and "target accuracy 0.95" in text and "label 50% local at 100.0%" in text


def test_a_target_no_threshold_holds_exits_1_and_writes_nothing(dataset: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "orchestrator.toml"
    code = run("label_it", str(dataset), "--expect", "label=gold", "--target-accuracy", "1.0", "--conservative",
               "--write-config", str(config))
    assert code == 1 and not config.exists()
    assert "none reaches it" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--expect", "label"], "write FIELD=COLUMN"),
    (["--expect", "label=nope"], "no column 'nope'"),
    (["--expect", "label=gold", "--write-config"], "give --target-accuracy too"),
    (["--expect", "label=gold", "--target-accuracy", "95"], "not in (0, 1]"),
    (["--expect", "label=gold", "--concurrency", "0"], "at least 1"),
    (["--expect", "label=gold", "--limit", "0"], "limit must be at least 1"),
    (["--expect", "label=gold", "--param", "oops"], "--param 'oops' must look like"),
])
def test_bad_options_exit_2_with_the_reason(dataset: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                            message: str) -> None:
    assert run("label_it", str(dataset), *args) == 2
    assert message in capsys.readouterr().err


def test_a_missing_dataset_or_unknown_target_exits_2(dataset: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run("label_it", str(tmp_path / "missing.jsonl"), "--expect", "label=gold") == 2
    assert "no such file" in capsys.readouterr().err
    assert run("lable_it", str(dataset), "--expect", "label=gold") == 2
    assert "label_it" in capsys.readouterr().err  # the suggestion


def test_one_specialist_with_params(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("echo", str(dataset), "--expect", "text=gold", "--input", "text=text", "--param", "extra=1",
               "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "echo" and report["fields"][0]["accuracy"] == pytest.approx(5 / 6)


def test_the_progress_bar_fills_with_the_items_done() -> None:
    from orchestrator.engine.batch import BatchProgress
    from orchestrator.interfaces.cli.eval import BAR, progress_bar

    half = progress_bar(BatchProgress(total=10, done=5))
    assert half.startswith("[" + "#" * (BAR // 2) + "." * (BAR // 2) + "] 5/10 items")
    assert progress_bar(BatchProgress(total=None)).startswith("[" + "." * BAR + "] 0/? items")


def test_write_config_refuses_to_shadow_a_pyproject_configuration(dataset: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHESTRATOR_CONFIG", raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.orchestrator]\ndefault_sensitivity = "public"\n')
    assert run("label_it", str(dataset), "--expect", "label=gold", "--target-accuracy", "0.95", "--write-config") == 2
    assert "--write-config PATH" in capsys.readouterr().err and not (tmp_path / "orchestrator.toml").exists()


def test_write_config_warns_when_the_environment_overrides_it(dataset: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORCHESTRATOR_SPECIALISTS__ECHO__THRESHOLD", "0.3")
    config = tmp_path / "orchestrator.toml"
    config.write_text('default_cascade = ["small"]\n[models.small]\nref = "scripted:small"\n', encoding="utf-8")
    assert run("label_it", str(dataset), "--expect", "label=gold", "--target-accuracy", "0.95",
               "--config", str(config), "--write-config") == 0
    assert tomllib.loads(config.read_text())["specialists"]["echo"]["threshold"] == 0.8
    err = capsys.readouterr().err
    assert "warning: environment ORCHESTRATOR_SPECIALISTS__ECHO__THRESHOLD overrides the threshold of echo" in err
