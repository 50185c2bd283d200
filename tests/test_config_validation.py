"""Invalid model backends and specialist options fail at start-up, naming the file, key and reason."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import ConfigError
from orchestrator.models import ModelSpec
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from tests.engine.agents import Echo


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orchestrator.toml"
    path.write_text(text)
    return path


def test_unknown_backend_of_a_named_model(tmp_path: Path) -> None:
    path = config(tmp_path, '[models.small]\nref = "olama:qwen2.5:0.5b"\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(path)
    assert info.value.source == str(path) and info.value.key == "models.small.ref"
    assert str(info.value) == (f"{path}: models.small.ref: unknown model scheme 'olama' in 'olama:qwen2.5:0.5b' "
                               "(did you mean 'ollama'?); known: llamacpp, ollama, openai, python, st")


def test_unknown_backend_of_a_raw_reference_in_a_cascade(tmp_path: Path) -> None:
    path = config(tmp_path, '[specialists.classifier]\ncascade = ["ollama:qwen2.5:0.5b", "olama:qwen"]\n')
    with pytest.raises(ConfigError, match="unknown model scheme 'olama'") as info:
        Settings.load(path)
    assert info.value.source == str(path) and info.value.key == "specialists.classifier.cascade"


def test_known_backends_and_in_code_models_load() -> None:
    settings = Settings(models={"a": "ollama:qwen2.5:0.5b", "b": "scripted:x", "c": "function:y"},
                        default_cascade=["a", "llamacpp:/m.gguf"])
    assert sorted(settings.models) == ["a", "b", "c", "llamacpp:/m.gguf"]


def test_bad_specialist_option_value_names_file_and_key(tmp_path: Path) -> None:
    path = config(tmp_path, '[specialists.classifier]\ncascade = ["ollama:qwen2.5:0.5b"]\n'
                            'options = { mode = "bogus" }\n')
    settings = Settings.load(path)  # the options belong to the specialist: checked when it is built
    with pytest.raises(ConfigError) as info:
        Orchestrator(settings)
    assert info.value.source == str(path) and info.value.key == "specialists.classifier.options.mode"
    assert str(info.value).startswith(f"{path}: specialists.classifier.options.mode: Input should be 'auto'")
    assert str(info.value).endswith(", got 'bogus'")


def test_misspelled_specialist_option_is_rejected(tmp_path: Path) -> None:
    path = config(tmp_path, '[specialists.summarizer]\ncascade = ["ollama:qwen2.5:0.5b"]\n'
                            'options = { extractiv = true }\n')
    with pytest.raises(ConfigError) as info:
        Orchestrator(Settings.load(path))
    assert str(info.value) == (f"{path}: specialists.summarizer.options.extractiv: unknown option; "
                               "did you mean 'extractive'?")


class StrictOptions(BaseModel):
    retries: int = 1
    style: str = "plain"


class Strict(Echo):
    Options: ClassVar[type[BaseModel] | None] = StrictOptions


def test_every_option_problem_is_listed() -> None:
    with pytest.raises(ConfigError) as info:
        Strict(SpecialistConfig(options={"retries": "many", "colour": "red", "style": 3}))
    assert info.value.key == "specialists.echo.options.colour"
    assert str(info.value).splitlines() == [
        "specialists.echo.options.colour: unknown option; options: retries, style",
        "specialists.echo.options.retries: Input should be a valid integer, unable to parse string as an "
        "integer, got 'many'",
        "specialists.echo.options.style: Input should be a valid string, got 3",
    ]
    assert Strict(SpecialistConfig(options={"retries": 3})).options == StrictOptions(retries=3)


def test_in_code_models_cannot_be_built_from_configuration() -> None:
    from orchestrator.models.spec import create_model

    with pytest.raises(ConfigError, match="a model built in code: pass its client"):
        create_model(ModelSpec(ref="scripted:x"))
