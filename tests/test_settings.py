"""Settings: profiles, files, environment, validation with precise messages, masking, ``config show``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.interfaces.cli import config as config_cli
from orchestrator.settings import Settings, available_profiles
from orchestrator.types import Sensitivity

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "orchestrator" / "profiles"
EXAMPLES = ROOT / "examples" / "config"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No configuration from the environment or the working directory leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("ORCHESTRATOR_") or name.upper() == "REDIS_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- profiles ---------------------------------------------------------------------


def test_packaged_profiles() -> None:
    assert available_profiles() == ["embedded", "hybrid", "ollama"]


@pytest.mark.parametrize("name", ["embedded", "ollama", "hybrid"])
def test_each_profile_loads(name: str) -> None:
    settings = Settings.load(profile=name)
    assert settings.sources == (f"profile {name!r}",)
    for specialist in ("classifier", "extractor", "summarizer"):
        assert settings.cascade_for(specialist), specialist


def test_embedded_is_the_default_and_local() -> None:
    settings = Settings.load()
    assert settings.sources == ("profile 'embedded'",)
    assert settings.planner_spec() is None
    assert [m.ref for m in settings.cascade_for("classifier")] == ["st:all-minilm-l6-v2"]
    assert [m.ref for m in settings.cascade_for("extractor")] == ["llamacpp:gemma3-270m"]
    assert settings.specialists["classifier"].options == {"mode": "embedding"}
    assert settings.specialists["extractor"].options == {"grounded": True}
    assert settings.specialists["summarizer"].options == {"extractive": True}
    assert settings.models["gemma"].options["parameters_b"] == 0.27
    used = [settings.models[name] for name in settings.used_models()]
    assert all(m.is_local and m.price_input == 0 for m in used)
    baseline = settings.baseline_spec()
    assert baseline is not None and not baseline.is_local and baseline.price_input > 0  # priced, never called
    assert "reference" not in settings.used_models()
    assert settings.redis_url is None


def test_ollama_profile_is_all_local() -> None:
    settings = Settings.load(profile="ollama")
    assert all(m.is_local and m.scheme == "ollama" for m in settings.models.values())
    assert [m.ref for m in settings.cascade_for("classifier")] == ["ollama:qwen2.5:0.5b", "ollama:qwen2.5:7b"]
    planner = settings.planner_spec()
    assert planner is not None and planner.ref == "ollama:qwen2.5:7b"


def test_hybrid_profile_escalates_to_the_cloud_within_budget() -> None:
    settings = Settings.load(profile="hybrid")
    planner = settings.planner_spec()
    assert planner is not None and planner.ref == "openai:gpt-4o-mini" and not planner.is_local
    assert (planner.price_input, planner.price_output) == (0.15, 0.60)
    assert planner.options["api_key_env"] == "OPENAI_API_KEY"
    for specialist in ("classifier", "extractor"):
        assert settings.cascade_for(specialist)[-1] is planner
    assert all(m.is_local for m in settings.cascade_for("summarizer"))
    assert settings.budget.max_cost_usd == 0.50


@pytest.mark.parametrize("name", ["embedded", "ollama", "hybrid"])
def test_documented_examples_are_the_packaged_profiles(name: str) -> None:
    example, packaged = EXAMPLES / f"{name}.toml", PROFILES / f"{name}.toml"
    assert example.read_text() == packaged.read_text(), f"cp {packaged} {example}"


def test_example_project_file_extends_a_profile() -> None:
    settings = Settings.load(EXAMPLES / "orchestrator.toml")
    assert settings.sources == ("profile 'hybrid'", str(EXAMPLES / "orchestrator.toml"))
    assert settings.default_sensitivity is Sensitivity.CONFIDENTIAL
    planner = settings.planner_spec()
    assert planner is not None and planner.ref == "openai:gpt-4o"
    assert [m.ref for m in settings.cascade_for("sentiment")] == ["ollama:llama3.2:3b", "openai:gpt-4o-mini"]
    assert settings.budget.max_cost_usd == 2.0
    assert settings.specialists["classifier"].threshold == 0.7  # kept from the profile


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'; profiles: embedded, hybrid, ollama"):
        Settings.load(profile="nope")


# -- files ---------------------------------------------------------------------------


MINIMAL = """
[models.m]
ref = "ollama:qwen2.5:0.5b"

[specialists.classifier]
cascade = ["m"]
"""


def test_orchestrator_toml_in_the_working_directory(clean: Path) -> None:
    write(clean / "orchestrator.toml", MINIMAL)
    settings = Settings.load()
    assert settings.sources == ("orchestrator.toml",)
    assert list(settings.models) == ["m"] and settings.models["m"].name == "m"


def test_tool_orchestrator_in_pyproject(clean: Path) -> None:
    write(
        clean / "pyproject.toml",
        "[project]\nname = 'x'\n\n[tool.orchestrator]\nkey_prefix = 'acme'\n"
        + MINIMAL.replace("[models", "[tool.orchestrator.models").replace("[spec", "[tool.orchestrator.spec"),
    )
    settings = Settings.load()
    assert settings.sources == ("pyproject.toml [tool.orchestrator]",)
    assert settings.key_prefix == "acme" and settings.keyspace.key("run", "1") == "acme:run:1"
    assert Settings.load(clean / "pyproject.toml").key_prefix == "acme"


def test_pyproject_without_our_table_is_ignored_when_discovered(clean: Path) -> None:
    write(clean / "pyproject.toml", "[project]\nname = 'x'\n")
    assert Settings.load().sources == ("profile 'embedded'",)
    with pytest.raises(ConfigError, match=r"pyproject.toml: no \[tool.orchestrator\] table"):
        Settings.load(clean / "pyproject.toml")


def test_config_env_names_the_file(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(clean / "elsewhere.toml", MINIMAL)
    monkeypatch.setenv("ORCHESTRATOR_CONFIG", str(path))
    assert Settings.load().sources == (str(path),)


def test_profile_env_and_explicit_profile_win_over_discovery(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clean / "orchestrator.toml", MINIMAL)
    assert Settings.load(profile="ollama").sources == ("profile 'ollama'",)
    monkeypatch.setenv("ORCHESTRATOR_PROFILE", "hybrid")
    assert Settings.load().sources == ("profile 'hybrid'",)


def test_file_layers_over_a_named_profile(clean: Path) -> None:
    path = write(clean / "o.toml", "[specialists.classifier]\nthreshold = 0.9\n")
    settings = Settings.load(path, profile="ollama")
    assert settings.specialists["classifier"].threshold == 0.9
    assert [m.name for m in settings.cascade_for("classifier")] == ["small", "large"]


def test_missing_file_and_invalid_toml(clean: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.toml: file not found"):
        Settings.load(clean / "nope.toml")
    bad = write(clean / "bad.toml", "[models\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        Settings.load(bad)


# -- environment and arguments ------------------------------------------------------------


def test_env_overrides_a_nested_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BUDGET__MAX_COST_USD", "1.5")
    monkeypatch.setenv("ORCHESTRATOR_SPECIALISTS__CLASSIFIER__THRESHOLD", "0.9")
    monkeypatch.setenv("ORCHESTRATOR_LOG__LEVEL", "DEBUG")
    settings = Settings.load(profile="hybrid")
    assert settings.budget.max_cost_usd == 1.5
    assert settings.specialists["classifier"].threshold == 0.9
    assert settings.specialists["classifier"].cascade == ["small", "large", "cloud"]  # merged, not replaced
    assert settings.log.level == "debug"
    assert settings.sources == ("profile 'hybrid'", "environment")


def test_redis_url_and_api_keys_from_their_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("ORCHESTRATOR_API_KEYS", "k1, k2")
    settings = Settings.load()
    assert settings.redis_url == "redis://127.0.0.1:6379/3"
    assert [k.get_secret_value() for k in settings.http.api_keys] == ["k1", "k2"]
    monkeypatch.setenv("ORCHESTRATOR_REDIS_URL", "redis://other:6379/0")
    monkeypatch.setenv("ORCHESTRATOR_HTTP__API_KEYS", '["k3"]')
    settings = Settings.load()
    assert settings.redis_url == "redis://other:6379/0"
    assert [k.get_secret_value() for k in settings.http.api_keys] == ["k3"]


def test_lists_from_env_are_json_or_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_DEFAULT_CASCADE", "embed,gemma")
    assert Settings.load().default_cascade == ["embed", "gemma"]
    monkeypatch.setenv("ORCHESTRATOR_DEFAULT_CASCADE", '["gemma"]')
    assert Settings.load().default_cascade == ["gemma"]


def test_arguments_win_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_KEY_PREFIX", "from-env")
    assert Settings.load().key_prefix == "from-env"
    settings = Settings.load(key_prefix="from-args", budget={"max_tokens": 1000})
    assert settings.key_prefix == "from-args" and settings.budget.max_tokens == 1000


def test_plain_constructor_reads_env_but_no_file(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(clean / "orchestrator.toml", MINIMAL)
    monkeypatch.setenv("ORCHESTRATOR_QUEUE__MAX_ATTEMPTS", "5")
    settings = Settings()
    assert settings.models == {} and settings.queue.max_attempts == 5
    assert settings.queue.result_ttl == 7 * 86_400 and settings.executor.durability == "sync"


# -- models, cascades ---------------------------------------------------------------------


def test_raw_references_become_implicit_models() -> None:
    settings = Settings(
        specialists={"classifier": {"cascade": ["ollama:qwen2.5:0.5b"]}}, planner={"model": "openai:gpt-4o-mini"}
    )
    assert settings.models["ollama:qwen2.5:0.5b"].is_local
    planner = settings.planner_spec()
    assert planner is not None and not planner.is_local
    assert settings.model_spec("ollama:llama3.2:1b").ref == "ollama:llama3.2:1b"
    with pytest.raises(UnknownNameError, match="unknown model 'nope'"):
        settings.model_spec("nope")


def test_model_shorthand_and_default_cascade() -> None:
    settings = Settings(models={"fast": "ollama:qwen2.5:0.5b"}, default_cascade=["fast"])
    assert settings.models["fast"].name == "fast"
    assert [m.name for m in settings.cascade_for("anything")] == ["fast"]
    assert settings.specialist_config("anything").threshold == 0.5


# -- invalid configuration ---------------------------------------------------------------------


def load_error(clean: Path, text: str) -> ConfigError:
    path = write(clean / "orchestrator.toml", text)
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    return info.value


def test_unknown_cascade_model_names_file_and_key(clean: Path) -> None:
    error = load_error(clean, MINIMAL.replace('cascade = ["m"]', 'cascade = ["m", "large"]'))
    assert str(error).startswith(
        f"{clean / 'orchestrator.toml'}: specialists.classifier.cascade: unknown model 'large'"
    )
    assert error.key == "specialists.classifier.cascade"
    assert error.source == str(clean / "orchestrator.toml")


def test_unknown_planner_model(clean: Path) -> None:
    error = load_error(clean, MINIMAL + '\n[planner]\nmodel = "gpt"\n')
    assert "planner.model: unknown model 'gpt' (models: m;" in str(error)


def test_bad_threshold(clean: Path) -> None:
    error = load_error(clean, MINIMAL + "threshold = 1.5\n")
    assert error.key == "specialists.classifier.threshold"
    assert "specialists.classifier.threshold: Input should be less than or equal to 1, got 1.5" in str(error)


@pytest.mark.parametrize(
    ("text", "key", "hint"),
    [
        ("[specialist.classifier]\nthreshold = 0.5\n", "specialist", "did you mean 'specialists'?"),
        ("[budget]\nmax_cost = 1.0\n", "budget.max_cost", "did you mean 'max_cost_usd'?"),
        ('[models.m]\nref = "ollama:x"\nprice_in = 1.0\n', "models.m.price_in", "did you mean 'price_input'?"),
        (
            "[specialists.classifier]\ncascade = []\ntreshold = 0.5\n",
            "specialists.classifier.treshold",
            "did you mean 'threshold'?",
        ),
    ],
)
def test_typo_keys_are_rejected(clean: Path, text: str, key: str, hint: str) -> None:
    error = load_error(clean, text)
    assert error.key == key
    assert f"{key}: unknown key" in str(error) and hint in str(error)


def test_every_problem_on_its_own_line(clean: Path) -> None:
    error = load_error(clean, '[budget]\nmax_tokens = 0\n\n[executor]\ndurability = "never"\n[log]\nlevel = "loud"\n')
    lines = str(error).splitlines()
    assert len(lines) == 3
    source = str(clean / "orchestrator.toml")
    assert all(line.startswith(source + ": ") for line in lines)
    assert [line.split(": ")[1] for line in lines] == ["budget.max_tokens", "executor.durability", "log.level"]


def test_error_from_env_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BUDGET__MAX_COST_USD", "lots")
    with pytest.raises(ConfigError, match=r"^environment ORCHESTRATOR_BUDGET__MAX_COST_USD: budget.max_cost_usd: "):
        Settings.load()


def test_specialist_without_any_model(clean: Path) -> None:
    error = load_error(clean, "[specialists.classifier]\nthreshold = 0.5\n")
    assert "specialists.classifier.cascade: no models" in str(error)


def test_constructor_raises_config_error_too() -> None:
    with pytest.raises(ConfigError, match=r"^arguments: queue.max_attempts: Input should be greater than"):
        Settings(queue={"max_attempts": 0})


# -- masking -------------------------------------------------------------------------------


def test_masked_hides_secrets() -> None:
    settings = Settings.load(
        profile="hybrid",
        redis_url="redis://user:s3cret@redis.internal:6379/0",
        http={"api_keys": ["key-one", "key-two"]},
        models={
            "vllm": {
                "ref": "openai:llama",
                "options": {
                    "base_url": "http://admin:hunter2@gpu:8000/v1",
                    "api_key": "sk-abc",
                    "auth_token": "t",
                    "headers": {"Authorization": "Bearer x"},
                    "api_key_env": "VLLM_KEY",
                },
            }
        },
    )
    shown = settings.masked()
    text = json.dumps(shown)
    for secret in ("s3cret", "key-one", "key-two", "hunter2", "sk-abc", "Bearer x"):
        assert secret not in text
    assert shown["redis_url"] == "redis://user:***@redis.internal:6379/0"
    assert shown["http"]["api_keys"] == ["***", "***"]
    options = shown["models"]["vllm"]["options"]
    assert options["api_key"] == options["auth_token"] == options["headers"]["Authorization"] == "***"
    assert options["base_url"] == "http://admin:***@gpu:8000/v1"
    assert options["api_key_env"] == "VLLM_KEY"  # the name of a variable, not a secret
    assert shown["key_prefix"] == "orch"
    assert settings.http.api_keys[0].get_secret_value() == "key-one"  # masking is for display only


# -- config show ---------------------------------------------------------------------------------


def show(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    config_cli.register(parser.add_subparsers())
    args = parser.parse_args(["config", "show", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_config_show_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_API_KEYS", "top-secret")
    code, out, _ = show(capsys, "--profile", "hybrid", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["planner"]["model"] == "cloud" and data["http"]["api_keys"] == ["***"]
    assert "top-secret" not in out


def test_config_show_toml_round_trips(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    code, out, _ = show(capsys, "--profile", "hybrid")
    assert code == 0 and out.startswith("# resolved from: profile 'hybrid'")
    data = tomllib.loads(out)
    assert data["models"]["cloud"]["price_output"] == 0.6
    assert "max_tokens" not in data["budget"]  # None is a comment
    again = Settings.load(write(clean / "shown.toml", out))
    assert again.masked() == Settings.load(profile="hybrid").masked()


def test_config_show_error_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], clean: Path) -> None:
    path = write(clean / "o.toml", "[specialists.classifier]\nthreshold = 2\n")
    code, out, err = show(capsys, "--config", str(path))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {path}: specialists.classifier.threshold: Input should be less than or equal to 1, got 2"
    ]


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ORCHESTRATOR_") and k != "REDIS_URL"}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not (ROOT / "orchestrator" / "__main__.py").exists(), reason="no orchestrator/__main__.py")
def test_python_m_orchestrator_config_show(clean: Path) -> None:
    done = run_cli("config", "show", "--json", cwd=clean)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["models"]["embed"]["ref"] == "st:all-minilm-l6-v2"
    write(clean / "orchestrator.toml", "[specialist]\n")
    done = run_cli("config", "show", cwd=clean)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: orchestrator.toml: specialist: unknown key 'specialist'; did you mean 'specialists'?"
    )


def test_registering_the_command_imports_nothing_heavy() -> None:
    code = (
        "import sys, argparse; from orchestrator.interfaces.cli import config; "
        "config.register(argparse.ArgumentParser().add_subparsers()); "
        "heavy = [m for m in ('pydantic_settings', 'langgraph', 'openai', 'orchestrator.settings') "
        "if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def _client_options(client: Any) -> tuple[float, float, int]:
    """The connect timeout, reply timeout and pool size a Redis client was made with (no connection)."""
    pool = client.connection_pool
    kwargs = pool.connection_kwargs
    return kwargs["socket_connect_timeout"], kwargs["socket_timeout"], pool.max_connections


def test_retention_and_redis_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.redis.connection import connect, connect_settings

    defaults = Settings.load()
    week = 7 * 24 * 3600
    assert (defaults.queue.checkpoint_ttl, defaults.queue.result_ttl, defaults.queue.dead_letters_maxlen) == (
        week, week, 10_000)
    assert _client_options(connect("redis://127.0.0.1:6379/0")) == (2.0, 10.0, 64)  # the settings' defaults
    assert _client_options(connect_settings(Settings.load(redis_url="redis://127.0.0.1:6379/0"))) == (2.0, 10.0, 64)
    monkeypatch.setenv("ORCHESTRATOR_QUEUE__CHECKPOINT_TTL", "3600")
    monkeypatch.setenv("ORCHESTRATOR_REDIS__CONNECT_TIMEOUT", "0.5")
    monkeypatch.setenv("ORCHESTRATOR_REDIS__SOCKET_TIMEOUT", "30")
    settings = Settings.load(queue={"dead_letters_maxlen": 50}, redis_url="redis://127.0.0.1:6379/0")
    assert settings.queue.checkpoint_ttl == 3600
    assert _client_options(connect_settings(settings)) == (0.5, 30, 64)  # the [redis] section, as it is
    assert settings.queue.dead_letters_maxlen == 50  # the queue takes this section as it is
    for key, value, reason in (("queue", {"checkpoint_ttl": 0}, "greater than or equal to 1"),
                               ("redis", {"connect_timeout": 0}, "greater than 0"),
                               ("redis", {"conect_timeout": 1}, "did you mean 'connect_timeout'")):
        with pytest.raises(ConfigError, match=reason):
            Settings.load(**{key: value})


def test_a_dotenv_file_sets_what_the_environment_may_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("REDIS_URL", "ORCHESTRATOR_BUDGET__MAX_COST_USD", "ORCHESTRATOR_ENV_FILE", "ORCHESTRATOR_LOG__LEVEL"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".env").write_text("# a comment\nORCHESTRATOR_BUDGET__MAX_COST_USD=0.25\n"
                                   "REDIS_URL=redis://127.0.0.1:6379/3\nORCHESTRATOR_LOG__LEVEL=info\n")
    settings = Settings.load()
    assert (settings.budget.max_cost_usd, settings.redis_url, settings.log.level) == (0.25, "redis://127.0.0.1:6379/3",
                                                                                       "info")
    assert ".env" in settings.sources
    assert settings.origin("budget.max_cost_usd") == ".env"
    monkeypatch.setenv("ORCHESTRATOR_LOG__LEVEL", "error")  # the environment wins over the file
    assert Settings.load().log.level == "error"
    assert Settings.load(log={"level": "debug"}).log.level == "debug"  # and arguments over both


def test_a_bad_dotenv_file_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHESTRATOR_ENV_FILE", raising=False)
    (tmp_path / ".env").write_text("ORCHESTRATOR_BUDGET__MAX_COST_USD=-1\n")
    with pytest.raises(ConfigError, match=r"^\.env: budget\.max_cost_usd: .*greater than or equal to 0"):
        Settings.load()
    monkeypatch.setenv("ORCHESTRATOR_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match=r"missing\.env.*file not found"):
        Settings.load()
    (tmp_path / "other.env").write_text("ORCHESTRATOR_BUDGET__MAX_COST_USD=0.5\n")
    monkeypatch.setenv("ORCHESTRATOR_ENV_FILE", str(tmp_path / "other.env"))
    assert Settings.load().budget.max_cost_usd == 0.5  # the named file replaces ./.env


def test_odd_files_are_config_errors_not_tracebacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("tool = 5\n")
    assert Settings.load().sources[0] == "profile 'embedded'"  # a pyproject without our table is not ours
    with pytest.raises(ConfigError, match=r"pyproject\.toml: no \[tool\.orchestrator\] table"):
        Settings.load(tmp_path / "pyproject.toml")
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml: not UTF-8 text"):
        Settings.load(tmp_path / "latin1.toml")
