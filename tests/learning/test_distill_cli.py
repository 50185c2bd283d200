"""``orchestrator distill`` on examples collected in a real Redis: fit, versions, rollback, errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from orchestrator.interfaces.cli import main
from orchestrator.keys import KeySpace
from orchestrator.learning import LabelledExample, RedisExampleStore
from tests.learning.deployment import TEXTS


@pytest.fixture
async def config(tmp_path: Path, redis_url: str, keyspace: KeySpace, redis_client: aioredis.Redis) -> Path:
    store = RedisExampleStore(redis_client, keyspace)
    for label, texts in TEXTS.items():
        for text in texts:
            await store.add(LabelledExample(specialist="classifier", input={"text": text}, output={"label": label},
                                            source="teacher", model="scripted:big"))
    path = tmp_path / "orchestrator.toml"
    path.write_text(
        f'redis_url = "{redis_url}"\nkey_prefix = "{keyspace.prefix}"\n'
        '[models.small]\nref = "python:tests.scripted_models:embedder"\n'
        '[specialists.classifier]\ncascade = ["small"]\n'
        f'options = {{ head_path = "{tmp_path / "head.json"}" }}\n'
        f'[learning]\nenabled = true\nversions_dir = "{tmp_path / "versions"}"\nholdout = 0.01\n'
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_distill_fits_lists_and_rolls_back(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "distill", "--config", str(config), "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["promoted"] and first["version"] == "v0001" and first["examples"] == 8
    assert first["audited"] == 0 and first["audited_agreement"] is None  # no [learning] audit_rate here
    assert json.loads((tmp_path / "head.json").read_text())["labels"] == ["billing", "shipping"]
    code, out, err = run(capsys, "distill", "--config", str(config))
    assert code == 0 and "v0002" in out, err
    code, out, _ = run(capsys, "distill", "versions", "--config", str(config), "--json")
    listed = json.loads(out)
    assert [v["version"] for v in listed["versions"]] == ["v0001", "v0002"]
    assert all(v["data_hash"] and v["date"].endswith("UTC") for v in listed["versions"])
    code, out, _ = run(capsys, "distill", "versions", "--config", str(config))
    assert "v0001" in out and "data hash" in out
    if listed["live"] == "v0002":
        code, out, err = run(capsys, "distill", "--rollback", "--config", str(config))
        assert code == 0 and "v0001 is live again" in out, err
    code, _, err = run(capsys, "distill", "--rollback", "--to", "v0042", "--config", str(config))
    assert code == 2 and "no version 'v0042'" in err


def test_distill_errors_are_one_line(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "distill", "--specialist", "nobody", "--config", str(config))
    assert code == 2 and "nobody" in err and "Traceback" not in err
    code, _, err = run(capsys, "distill", "--to", "v0001", "--config", str(config))
    assert code == 2 and "add --rollback" in err


def test_write_config_puts_a_promoted_version_threshold_into_the_configuration(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text(config.read_text().replace("holdout = 0.01", "holdout = 0.5"))  # a held-out half to calibrate on
    code, out, err = run(capsys, "distill", "--config", str(config), "--write-config", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["promoted"] and first["held_out"] > 0 and first["threshold"] is not None
    assert first["threshold_written_to"] == str(config)
    written = tomllib.loads(config.read_text())
    assert written["specialists"]["classifier"]["threshold"] == pytest.approx(first["threshold"], abs=1e-4)
    assert written["specialists"]["classifier"]["cascade"] == ["small"]  # the rest of the table stands
    assert written["learning"]["holdout"] == 0.5 and "distilled v0001" in config.read_text()
    other = tmp_path / "other.toml"
    code, out, err = run(capsys, "distill", "--config", str(config), "--write-config", str(other))
    assert code == 0, err
    second = json.loads(run(capsys, "distill", "versions", "--config", str(config), "--json")[1])["versions"][-1]
    if second["promoted"]:
        assert f"written to {other}" in out
        assert tomllib.loads(other.read_text())["specialists"]["classifier"]["threshold"] == pytest.approx(
            second["threshold"], abs=1e-4)
    else:
        assert "not written: this version was not promoted" in out and not other.exists()
    code, out, err = run(capsys, "distill", "--rollback", "--to", "v0001", "--config", str(config),
                         "--write-config", str(other))
    assert code == 0 and "v0001 is live again" in out and f"written to {other}" in out, err
    assert tomllib.loads(other.read_text())["specialists"]["classifier"]["threshold"] == pytest.approx(
        first["threshold"], abs=1e-4)


def test_write_config_with_versions_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "distill", "versions", "--write-config", "--config", str(config))
    assert code == 2 and "--write-config writes the threshold of a version made live" in err
