"""Where configuration values come from: packaged profiles, a TOML file, the environment, arguments.

Each source becomes a :class:`Layer`; :func:`merge` lays them over each other, lowest priority
first, and the layers are kept so every value can be traced back to where it was set.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from orchestrator.errors import ConfigError

ENV_PREFIX = "ORCHESTRATOR_"
CONFIG_ENV = "ORCHESTRATOR_CONFIG"
"""Names the configuration file."""
PROFILE_ENV = "ORCHESTRATOR_PROFILE"
"""Names the packaged profile."""
DOTENV_ENV = "ORCHESTRATOR_ENV_FILE"
"""Names the dotenv file (default ``./.env`` when it exists)."""
DOTENV_FILE = ".env"
CONFIG_FILE = "orchestrator.toml"
DEFAULT_PROFILE = "embedded"
#: Environment variables outside the ``ORCHESTRATOR_<KEY>`` scheme, and the key each sets.
ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "REDIS_URL": ("redis_url",),
    "ORCHESTRATOR_API_KEYS": ("http", "api_keys"),
}
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class Layer(NamedTuple):
    """One source of configuration values and how to name it in messages."""

    source: str
    data: dict[str, Any]
    kind: Literal["profile", "file", "alias", "env", "args"]


class AliasEnvSource(PydanticBaseSettingsSource):
    """``REDIS_URL`` and ``ORCHESTRATOR_API_KEYS`` (below ``ORCHESTRATOR_<KEY>`` in priority)."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None] | None = None):
        super().__init__(settings_cls)
        self.variables = os.environ if variables is None else variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var, loc in ENV_ALIASES.items():
            value = self.variables.get(var)
            if value:
                set_at(data, loc, value)
        return data


class _DotEnvSource(EnvSettingsSource):
    """``ORCHESTRATOR_<KEY>`` variables from a dotenv file, read exactly as the environment is."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]):
        self._variables = variables
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._variables, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def available_profiles() -> list[str]:
    """Names of the packaged profiles."""
    folder = resources.files("orchestrator") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


# -- loading ------------------------------------------------------------------


def file_layers(path: str | Path | None, profile: str | None) -> list[Layer]:
    explicit_path = path if path is not None else os.environ.get(CONFIG_ENV) or None
    explicit_profile = profile or os.environ.get(PROFILE_ENV) or None
    file: Layer | None = None
    if explicit_path is not None:
        file = read_file(Path(explicit_path))
    elif explicit_profile is None:
        file = discover()
    base = explicit_profile
    if file is not None:
        own = file.data.pop("profile", None)
        if own is not None and not isinstance(own, str):
            raise ConfigError("must be the name of a profile", source=file.source, key="profile")
        base = base or own
    elif base is None:
        base = DEFAULT_PROFILE
    layers = [read_profile(base)] if base else []
    return layers + ([file] if file else [])


def discover() -> Layer | None:
    """``./orchestrator.toml``, else ``[tool.orchestrator]`` of ``./pyproject.toml``."""
    if Path(CONFIG_FILE).is_file():
        return read_file(Path(CONFIG_FILE))
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and isinstance(_tool_table(parse(pyproject)), dict):
        return read_file(pyproject)
    return None


def _tool_table(pyproject: dict[str, Any]) -> Any:
    """``[tool.orchestrator]`` of a parsed ``pyproject.toml`` (None when absent, whatever ``tool`` is)."""
    tool = pyproject.get("tool")
    return tool.get("orchestrator") if isinstance(tool, dict) else None


def read_file(path: Path) -> Layer:
    data = parse(path)
    if path.name != "pyproject.toml":
        return Layer(str(path), data, "file")
    table = _tool_table(data)
    if not isinstance(table, dict):
        raise ConfigError("no [tool.orchestrator] table", source=str(path))
    return Layer(f"{path} [tool.orchestrator]", table, "file")


def parse(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (TOML files are UTF-8): {exc.reason} at byte {exc.start}",
                          source=str(path)) from None


def read_profile(name: str) -> Layer:
    file = resources.files("orchestrator") / "profiles" / f"{name}.toml"
    if not PROFILE_NAME.match(name) or not file.is_file():
        known = ", ".join(available_profiles())
        raise ConfigError(f"unknown profile {name!r}; profiles: {known}", key="profile")
    return Layer(f"profile {name!r}", tomllib.loads(file.read_text("utf-8")), "profile")


def env_layers(cls: type[BaseSettings]) -> list[Layer]:
    try:
        values = EnvSettingsSource(cls)()
    except SettingsError as exc:
        raise ConfigError(f"{exc}: lists and tables in variables are JSON", source="environment") from None
    return [Layer("environment", AliasEnvSource(cls)(), "alias"), Layer("environment", values, "env")]


def dotenv_layers(cls: type[BaseSettings]) -> list[Layer]:
    """The dotenv file's variables (``ORCHESTRATOR_ENV_FILE``, else ``./.env`` if there is one), the
    same variables the environment may set; the environment itself wins over the file."""
    named = os.environ.get(DOTENV_ENV) or None
    path = Path(named or DOTENV_FILE)
    if not path.is_file():
        if named:
            raise ConfigError("file not found", source=str(path), key=DOTENV_ENV)
        return []
    from dotenv import dotenv_values

    try:
        variables = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from None
    try:
        values = _DotEnvSource(cls, variables)()
    except SettingsError as exc:
        raise ConfigError(f"{exc}: lists and tables in variables are JSON", source=str(path)) from None
    return [Layer(str(path), AliasEnvSource(cls, variables)(), "file"), Layer(str(path), values, "file")]


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``; tables merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def set_at(data: dict[str, Any], loc: tuple[str, ...], value: Any) -> None:
    for part in loc[:-1]:
        data = data.setdefault(part, {})
    data[loc[-1]] = value


__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "DEFAULT_PROFILE",
    "DOTENV_ENV",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "PROFILE_ENV",
    "AliasEnvSource",
    "Layer",
    "available_profiles",
    "dotenv_layers",
    "env_layers",
    "file_layers",
    "merge",
    "set_at",
]
