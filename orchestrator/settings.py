"""The configuration of one deployment: models, specialists, planner, budget, state, interfaces.

:meth:`Settings.load` merges these layers, lowest priority first:

1. a packaged profile (``orchestrator/profiles/<name>.toml``);
2. a TOML file: top-level keys, or the ``[tool.orchestrator]`` table of a ``pyproject.toml``;
3. the environment: ``ORCHESTRATOR_*`` (nested keys joined by ``__``, e.g.
   ``ORCHESTRATOR_BUDGET__MAX_COST_USD``), plus ``REDIS_URL`` and ``ORCHESTRATOR_API_KEYS``;
4. keyword arguments to :meth:`Settings.load`.

Which file and profile: the ``path`` argument, else ``ORCHESTRATOR_CONFIG``; the
``profile`` argument, else ``ORCHESTRATOR_PROFILE``, else the file's own
``profile`` key. With neither a file nor a profile named, ``./orchestrator.toml``
is used if it exists, else ``[tool.orchestrator]`` of ``./pyproject.toml``, else
the ``embedded`` profile.

Invalid configuration raises :class:`~orchestrator.errors.ConfigError`, one line per
problem, each naming where the value came from, its key and what is wrong::

    orchestrator.toml: specialists.classifier.threshold: Input should be less than or equal to 1, got 1.5
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.keys import DEFAULT_PREFIX, KeySpace
from orchestrator.models.spec import ModelSpec
from orchestrator.specialist import SpecialistConfig
from orchestrator.types import Sensitivity

ENV_PREFIX = "ORCHESTRATOR_"
CONFIG_ENV = "ORCHESTRATOR_CONFIG"
"""Names the configuration file."""
PROFILE_ENV = "ORCHESTRATOR_PROFILE"
"""Names the packaged profile."""
CONFIG_FILE = "orchestrator.toml"
DEFAULT_PROFILE = "embedded"
MASK = "***"

_DAY = 86_400
#: Environment variables outside the ``ORCHESTRATOR_<KEY>`` scheme, and the key each sets.
_ENV_ALIASES: dict[str, tuple[str, ...]] = {
    "REDIS_URL": ("redis_url",),
    "ORCHESTRATOR_API_KEYS": ("http", "api_keys"),
}
_SECRET_NAME = re.compile(r"key|token|secret|password|authorization", re.IGNORECASE)
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

Loc = tuple[str | int, ...]


# -- sections -----------------------------------------------------------------


def _split_list(value: Any) -> Any:
    """Lists from the environment: JSON (``["a", "b"]``) or comma-separated (``a,b``)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    return [part.strip() for part in value.split(",") if part.strip()]


def _problems(items: Sequence[tuple[Loc, str]]) -> PydanticCustomError:
    """A validation error carrying precise key paths (relative to where it is raised)."""
    summary = "; ".join(f"{_format_key(loc)}: {reason}" for loc, reason in items)
    return PydanticCustomError("config_problems", "{summary}", {"summary": summary, "problems": list(items)})


def _unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}")


def _reject_unknown_keys(model: type[BaseModel]) -> BeforeValidator:
    """``extra="forbid"`` for models that ignore extra keys (ModelSpec, SpecialistConfig)."""

    def check(value: Any) -> Any:
        if isinstance(value, Mapping):
            known = list(model.model_fields)
            unknown = [str(k) for k in value if k not in model.model_fields]
            if unknown:
                raise _problems([((k,), _unknown_key(k, known)) for k in unknown])
        return value

    return BeforeValidator(check)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlannerSettings(_Section):
    """The large model that turns a free-form task into a plan."""

    model: str | None = None
    """A name in ``models`` or a raw reference (``openai:gpt-4o-mini``); None: no planner (workflows only)."""
    max_repairs: int = Field(default=2, ge=0)
    """How often an invalid plan is sent back to the model with its problems."""
    replan: bool = True
    """Ask for a new plan once after a step fails for good."""
    max_steps: int = Field(default=20, ge=1)
    """The largest plan accepted."""


class Budget(_Section):
    """Default limits of one run; ``None`` means unlimited."""

    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, ge=0)


class ExecutorSettings(_Section):
    """How plans run."""

    step_timeout: float = Field(default=120.0, gt=0)
    """Seconds a step may take before it fails."""
    max_parallel_steps: int = Field(default=16, ge=1)
    """Steps of one run in flight at once."""
    max_items: int = Field(default=1000, ge=1)
    """Items one for_each step may fan out over; a longer list fails the step (each item is a
    checkpointed task)."""
    durability: Literal["sync", "async", "exit"] = "sync"
    """When LangGraph persists step results: before the next step (sync), in the background, or at exit."""


class QueueSettings(_Section):
    """The Redis job queue and its workers."""

    visibility_timeout: float = Field(default=30.0, gt=0)
    """Seconds a job may stay unacknowledged before another worker reclaims it."""
    max_attempts: int = Field(default=3, ge=1)
    """Attempts before a job goes to the dead-letter stream."""
    worker_concurrency: int = Field(default=4, ge=1)
    """Jobs one worker process runs at once."""
    result_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds run records and job results are kept."""
    events_maxlen: int = Field(default=10_000, ge=1)
    """Events kept per run stream (approximate trimming)."""
    events_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds a run's event stream is kept after its last event."""
    checkpoint_ttl: int = Field(default=7 * _DAY, ge=1)
    """Seconds a run's LangGraph checkpoints are kept after its last step (resuming needs them)."""
    dead_letters_maxlen: int = Field(default=10_000, ge=1)
    """Entries kept in the dead-letter stream (the oldest are dropped)."""
    shutdown_grace: float = Field(default=10.0, ge=0)
    """On SIGTERM, seconds in-flight jobs may finish before they are handed back."""
    poll_interval: float = Field(default=0.5, gt=0)
    """Seconds between a worker's checks for cancel flags (and the longest a stream read blocks)."""


class RedisSettings(_Section):
    """How every client talks to Redis (store, checkpointer, queue, workers, CLI, HTTP)."""

    connect_timeout: float = Field(default=2.0, gt=0)
    """Seconds to open a connection, handshake included; an unreachable or mute server fails then."""
    socket_timeout: float = Field(default=10.0, gt=0)
    """Seconds to wait for any one reply on an open connection."""
    max_connections: int = Field(default=64, ge=1)
    """Connections per client pool; callers beyond that wait for a free one."""


class HttpSettings(_Section):
    """The HTTP server."""

    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    """Bearer keys accepted by the API; empty: no authentication (bind to localhost only)."""
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)

    _split_keys = field_validator("api_keys", mode="before")(_split_list)


class LogSettings(_Section):
    """Structured logging."""

    level: str = "warning"
    """debug, info, warning, error or critical."""
    format: Literal["auto", "json", "console"] = "auto"
    """auto: pretty in a terminal, JSON otherwise."""

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return value.lower()


# -- the settings -----------------------------------------------------------------


class _Layer(NamedTuple):
    """One source of configuration values and how to name it in messages."""

    source: str
    data: dict[str, Any]
    kind: Literal["profile", "file", "alias", "env", "args"]


class _AliasEnvSource(PydanticBaseSettingsSource):
    """``REDIS_URL`` and ``ORCHESTRATOR_API_KEYS`` (below ``ORCHESTRATOR_<KEY>`` in priority)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var, loc in _ENV_ALIASES.items():
            value = os.environ.get(var)
            if value:
                _set(data, loc, value)
        return data


class Settings(BaseSettings):
    """Everything a deployment decides. Build it with :meth:`load`; pass it explicitly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    models: dict[str, Annotated[ModelSpec, _reject_unknown_keys(ModelSpec)]] = Field(default_factory=dict)
    """Models by name (the key is ``ModelSpec.name``); a string value is shorthand for ``{ref = ...}``."""
    default_cascade: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Model names (or raw references) for specialists without a cascade of their own."""
    specialists: dict[str, Annotated[SpecialistConfig, _reject_unknown_keys(SpecialistConfig)]] = Field(
        default_factory=dict
    )
    """Per-specialist cascade, threshold and options, by specialist name."""
    planner: PlannerSettings = Field(default_factory=PlannerSettings)
    baseline_model: str | None = None
    """The large model each run's saving is priced against (a name in ``models``); defaults to the
    planner model. Only its prices are used: it is never called unless a cascade names it."""
    budget: Budget = Field(default_factory=Budget)
    """Default limits of every run (a run may pass its own)."""
    default_sensitivity: Sensitivity = Sensitivity.INTERNAL
    """Sensitivity of inputs that do not declare one; confidential inputs only reach local models."""
    redact_for_remote: bool = False
    """Run PII redaction on text before it goes to a model that is not local."""
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    redis_url: str | None = None
    """Redis for runs, checkpoints, events and the queue (env ``REDIS_URL`` too); None: in-process."""
    key_prefix: str = Field(default=DEFAULT_PREFIX, min_length=1)
    """Every Redis key of this deployment starts with ``<key_prefix>:``."""
    queue: QueueSettings = Field(default_factory=QueueSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    _sources: tuple[str, ...] = PrivateAttr(default=())
    _layers: tuple[_Layer, ...] = PrivateAttr(default=())

    def __init__(self, *, _layers: Sequence[_Layer] | None = None, **values: Any) -> None:
        if _layers is None:  # constructed directly: environment and arguments only
            _layers = [*_env_layers(type(self)), _Layer("arguments", values, "args")]
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc, _layers) from None
        self._sources = tuple(dict.fromkeys(layer.source for layer in _layers if layer.data))
        self._layers = tuple(_layers)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _AliasEnvSource(settings_cls)

    @classmethod
    def load(cls, path: str | Path | None = None, *, profile: str | None = None, **overrides: Any) -> Settings:
        """The deployment's configuration from profile, file, environment and ``overrides``."""
        layers = [*_file_layers(path, profile), *_env_layers(cls), _Layer("arguments", overrides, "args")]
        merged: dict[str, Any] = {}
        for layer in layers:
            merged = _merge(merged, layer.data)
        return cls(_layers=layers, **merged)

    # -- validation ---------------------------------------------------------

    @field_validator("models", mode="before")
    @classmethod
    def _name_models(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        named: dict[Any, Any] = {}
        for name, spec in value.items():
            if isinstance(spec, str):
                spec = {"name": name, "ref": spec}
            elif isinstance(spec, Mapping):
                spec = {"name": name, **spec}
            elif isinstance(spec, ModelSpec) and spec.name == spec.ref:
                spec = spec.model_copy(update={"name": name})
            named[name] = spec
        return named

    _split_cascade = field_validator("default_cascade", mode="before")(_split_list)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        problems: list[tuple[Loc, str]] = []
        for name, spec in self.models.items():
            if spec.name != name:
                problems.append((("models", name, "name"), f"{spec.name!r} differs from its key; leave it out"))
            if (backend_problem := spec.backend_problem()) is not None:
                problems.append((("models", name, "ref"), backend_problem))
        references: list[tuple[Loc, str]] = [(("default_cascade",), n) for n in self.default_cascade]
        for specialist, config in self.specialists.items():
            references += [(("specialists", specialist, "cascade"), n) for n in config.cascade]
            if not config.cascade and not self.default_cascade:
                problems.append(
                    (("specialists", specialist, "cascade"), "no models: give a cascade here or a default_cascade")
                )
        if self.planner.model is not None:
            references.append((("planner", "model"), self.planner.model))
        for loc, name in references:
            if name in self.models:
                continue
            if ":" in name:  # a raw reference: an implicit model with default settings
                implicit = ModelSpec(ref=name)
                if (backend_problem := implicit.backend_problem()) is not None:
                    problems.append((loc, backend_problem))
                self.models[name] = implicit
                continue
            known = ", ".join(self.models) or "none"
            problems.append(
                (loc, f"unknown model {name!r} (models: {known}; or a reference like 'ollama:qwen2.5:0.5b')")
            )
        if problems:
            raise _problems(problems)
        return self

    # -- what the engine asks -------------------------------------------------

    @property
    def sources(self) -> tuple[str, ...]:
        """Where the values came from, lowest priority first (e.g. ``("profile 'embedded'", "environment")``)."""
        return self._sources

    def origin(self, key: str) -> str | None:
        """Where the value at dotted ``key`` was set: a file, a profile or an environment variable."""
        return _origin(tuple(key.split(".")), self._layers)

    @property
    def keyspace(self) -> KeySpace:
        return KeySpace(self.key_prefix)

    def model_spec(self, name_or_ref: str) -> ModelSpec:
        """The model named ``name_or_ref``, or an unconfigured model for a raw reference."""
        spec = self.models.get(name_or_ref)
        if spec is not None:
            return spec
        if ":" in name_or_ref:
            return ModelSpec(ref=name_or_ref)
        raise UnknownNameError("model", name_or_ref, list(self.models))

    def specialist_config(self, name: str) -> SpecialistConfig:
        """The configuration of specialist ``name`` (defaults when it has none)."""
        return self.specialists.get(name) or SpecialistConfig()

    def cascade_for(self, specialist: str) -> list[ModelSpec]:
        """The models specialist ``specialist`` tries, in order (its own cascade or the default)."""
        names = self.specialist_config(specialist).cascade or self.default_cascade
        return [self.model_spec(name) for name in names]

    def planner_spec(self) -> ModelSpec | None:
        """The planner's model; None when free-form tasks are not configured."""
        return self.model_spec(self.planner.model) if self.planner.model else None

    def baseline_spec(self) -> ModelSpec | None:
        """The model whose prices the all-large-model cost is computed with."""
        return self.model_spec(self.baseline_model) if self.baseline_model else self.planner_spec()

    def used_models(self) -> list[str]:
        """Names of the models a cascade or the planner uses (what ``models check`` checks)."""
        names = [*self.default_cascade, *(n for cfg in self.specialists.values() for n in cfg.cascade)]
        if self.planner.model:
            names.append(self.planner.model)
        return list(dict.fromkeys(names))

    def masked(self) -> dict[str, Any]:
        """The configuration as plain data for display, secrets replaced by ``***``."""
        data = self.model_dump(mode="json")
        data["http"]["api_keys"] = [MASK for _ in self.http.api_keys]
        for group in ("models", "specialists"):
            for entry in data[group].values():
                entry["options"] = _mask_secrets(entry["options"])
        masked: dict[str, Any] = _mask_urls(data)
        return masked


def available_profiles() -> list[str]:
    """Names of the packaged profiles."""
    folder = resources.files("orchestrator") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


# -- loading ------------------------------------------------------------------


def _file_layers(path: str | Path | None, profile: str | None) -> list[_Layer]:
    explicit_path = path if path is not None else os.environ.get(CONFIG_ENV) or None
    explicit_profile = profile or os.environ.get(PROFILE_ENV) or None
    file: _Layer | None = None
    if explicit_path is not None:
        file = _read_file(Path(explicit_path))
    elif explicit_profile is None:
        file = _discover()
    base = explicit_profile
    if file is not None:
        own = file.data.pop("profile", None)
        if own is not None and not isinstance(own, str):
            raise ConfigError("must be the name of a profile", source=file.source, key="profile")
        base = base or own
    elif base is None:
        base = DEFAULT_PROFILE
    layers = [_read_profile(base)] if base else []
    return layers + ([file] if file else [])


def _discover() -> _Layer | None:
    """``./orchestrator.toml``, else ``[tool.orchestrator]`` of ``./pyproject.toml``."""
    if Path(CONFIG_FILE).is_file():
        return _read_file(Path(CONFIG_FILE))
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and isinstance(_parse(pyproject).get("tool", {}).get("orchestrator"), dict):
        return _read_file(pyproject)
    return None


def _read_file(path: Path) -> _Layer:
    data = _parse(path)
    if path.name != "pyproject.toml":
        return _Layer(str(path), data, "file")
    table = data.get("tool", {}).get("orchestrator")
    if not isinstance(table, dict):
        raise ConfigError("no [tool.orchestrator] table", source=str(path))
    return _Layer(f"{path} [tool.orchestrator]", table, "file")


def _parse(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None


def _read_profile(name: str) -> _Layer:
    file = resources.files("orchestrator") / "profiles" / f"{name}.toml"
    if not _PROFILE_NAME.match(name) or not file.is_file():
        known = ", ".join(available_profiles())
        raise ConfigError(f"unknown profile {name!r}; profiles: {known}", key="profile")
    return _Layer(f"profile {name!r}", tomllib.loads(file.read_text("utf-8")), "profile")


def _env_layers(cls: type[BaseSettings]) -> list[_Layer]:
    try:
        values = EnvSettingsSource(cls)()
    except SettingsError as exc:
        raise ConfigError(f"{exc}: lists and tables in variables are JSON", source="environment") from None
    return [_Layer("environment", _AliasEnvSource(cls)(), "alias"), _Layer("environment", values, "env")]


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``; tables merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _set(data: dict[str, Any], loc: tuple[str, ...], value: Any) -> None:
    for part in loc[:-1]:
        data = data.setdefault(part, {})
    data[loc[-1]] = value


# -- errors -------------------------------------------------------------------


def _config_error(exc: ValidationError, layers: Sequence[_Layer]) -> ConfigError:
    items: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        if error["type"] == "config_problems":
            items += [(loc + tuple(sub), reason) for sub, reason in error["ctx"]["problems"]]
        elif error["type"] == "extra_forbidden":
            items.append((loc, _unknown_key(str(loc[-1]), _fields_at(loc[:-1]))))
        elif error["type"] == "missing":
            items.append((loc, "required"))
        else:
            given = error.get("input")
            shown = f", got {given!r}" if isinstance(given, str | int | float | bool) else ""
            items.append((loc, error["msg"].removeprefix("Value error, ") + shown))
    lines = [(_origin(loc, layers), _format_key(loc), reason) for loc, reason in items]
    first_source, first_key, first_reason = lines[0]
    rest = "".join("\n" + ": ".join(p for p in line if p) for line in lines[1:])
    return ConfigError(first_reason + rest, source=first_source, key=first_key or None)


def _fields_at(loc: Loc) -> list[str]:
    model: type[BaseModel] = Settings
    for part in loc:
        annotation = model.model_fields[str(part)].annotation if str(part) in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _origin(loc: Loc, layers: Sequence[_Layer]) -> str | None:
    """Which layer set the value at ``loc`` (or its nearest parent)."""
    for depth in range(len(loc), 0, -1):
        for layer in reversed(layers):
            if _has(layer.data, loc[:depth]):
                return _env_var(layer, loc) if layer.kind in ("env", "alias") else layer.source
    return None


def _env_var(layer: _Layer, loc: Loc) -> str:
    if layer.kind == "alias":
        for var, alias_loc in _ENV_ALIASES.items():
            if loc[: len(alias_loc)] == alias_loc and os.environ.get(var):
                return f"environment {var}"
        return "environment"
    names = {name.upper(): name for name in os.environ}
    for depth in range(len(loc), 0, -1):
        candidate = ENV_PREFIX + "__".join(str(p) for p in loc[:depth]).upper()
        if candidate in names:
            return f"environment {names[candidate]}"
    return "environment"


def _has(data: Any, loc: Loc) -> bool:
    for part in loc:
        found = (
            part in data
            if isinstance(data, Mapping)
            else (isinstance(data, list) and isinstance(part, int) and part < len(data))
        )
        if not found:
            return False
        data = data[part]
    return True


def _format_key(loc: Loc) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


# -- masking ------------------------------------------------------------------


def _mask_secrets(options: dict[str, Any]) -> dict[str, Any]:
    """Values of options named like a secret; ``*_env`` options name a variable, not a secret."""
    masked: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            masked[key] = _mask_secrets(value)
        elif _SECRET_NAME.search(key) and not key.lower().endswith("_env") and value not in (None, ""):
            masked[key] = [MASK for _ in value] if isinstance(value, list) else MASK
        else:
            masked[key] = value
    return masked


def _mask_urls(value: Any) -> Any:
    """Passwords in URLs (``redis://user:pw@host``) replaced by ``***``."""
    if isinstance(value, dict):
        return {k: _mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_urls(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        try:
            parts = urlsplit(value)
            password = parts.password
        except ValueError:
            return value
        if password:
            userinfo, _, hostport = parts.netloc.rpartition("@")
            user = userinfo.partition(":")[0]
            return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))
    return value


__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "DEFAULT_PROFILE",
    "PROFILE_ENV",
    "Budget",
    "ExecutorSettings",
    "HttpSettings",
    "LogSettings",
    "PlannerSettings",
    "QueueSettings",
    "RedisSettings",
    "Settings",
    "available_profiles",
]
