"""The configuration of one deployment: models, specialists, planner, budget, state, interfaces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator.errors import UnknownNameError
from orchestrator.keys import DEFAULT_PREFIX, KeySpace
from orchestrator.models.spec import ModelSpec
from orchestrator.settings._masking import MASK, mask_secrets, mask_urls
from orchestrator.settings._problems import Loc, config_error, reject_unknown_keys
from orchestrator.settings._problems import origin as origin_of
from orchestrator.settings._problems import problems as config_problems
from orchestrator.settings._sources import (
    ENV_PREFIX,
    AliasEnvSource,
    Layer,
    dotenv_layers,
    env_layers,
    file_layers,
    merge,
)
from orchestrator.settings.sections import (
    Budget,
    ExecutorSettings,
    HttpSettings,
    LearningSettings,
    LogSettings,
    PlannerSettings,
    QueueSettings,
    RedisSettings,
    split_list,
)
from orchestrator.specialist import SpecialistConfig
from orchestrator.telemetry.config import TelemetrySettings
from orchestrator.types import Sensitivity


class Settings(BaseSettings):
    """Everything a deployment decides. Build it with :meth:`load`; pass it explicitly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    models: dict[str, Annotated[ModelSpec, reject_unknown_keys(ModelSpec)]] = Field(default_factory=dict)
    """Models by name (the key is ``ModelSpec.name``); a string value is shorthand for ``{ref = ...}``."""
    default_cascade: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Model names (or raw references) for specialists without a cascade of their own."""
    specialists: dict[str, Annotated[SpecialistConfig, reject_unknown_keys(SpecialistConfig)]] = Field(
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
    local_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names (or addresses) of your own machines that count as local, e.g.
    ``["gpu-box.internal"]``: a model whose ``base_url``/``host`` names one of them exactly may
    receive confidential data. Loopback addresses and ``localhost`` are local without it."""
    redact_for_remote: bool = False
    """Run PII redaction (the ``redact_pii`` tool) on text before it goes to a model that is not
    local. It replaces emails, phone numbers, cards, IBANs, US SSNs, cued dates of birth and IP
    addresses only: names, street addresses and passport numbers still go out (see
    ``orchestrator.tools.pii``); mark such inputs confidential to keep them on local models."""
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    redis_url: str | None = None
    """Redis for runs, checkpoints, events and the queue (env ``REDIS_URL`` too); None: in-process."""
    key_prefix: str = Field(default=DEFAULT_PREFIX, min_length=1)
    """Every Redis key of this deployment starts with ``<key_prefix>:``."""
    queue: QueueSettings = Field(default_factory=QueueSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    learning: LearningSettings = Field(default_factory=LearningSettings)

    _sources: tuple[str, ...] = PrivateAttr(default=())
    _layers: tuple[Layer, ...] = PrivateAttr(default=())

    def __init__(self, *, _layers: Sequence[Layer] | None = None, **values: Any) -> None:
        if _layers is None:  # constructed directly: environment and arguments only
            _layers = [*env_layers(type(self)), Layer("arguments", values, "args")]
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise config_error(exc, _layers, type(self)) from None
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
        return init_settings, env_settings, AliasEnvSource(settings_cls)

    @classmethod
    def load(cls, path: str | Path | None = None, *, profile: str | None = None, **overrides: Any) -> Settings:
        """The deployment's configuration from profile, file, dotenv file, environment and ``overrides``."""
        layers = [*file_layers(path, profile), *dotenv_layers(cls), *env_layers(cls),
                  Layer("arguments", overrides, "args")]
        merged: dict[str, Any] = {}
        for layer in layers:
            merged = merge(merged, layer.data)
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

    _split_cascade = field_validator("default_cascade", mode="before")(split_list)
    _split_local_hosts = field_validator("local_hosts", mode="before")(split_list)

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
            raise config_problems(problems)
        self.models = {name: spec.with_local_hosts(self.local_hosts) for name, spec in self.models.items()}
        return self

    # -- what the engine asks -------------------------------------------------

    @property
    def sources(self) -> tuple[str, ...]:
        """Where the values came from, lowest priority first (e.g. ``("profile 'embedded'", "environment")``)."""
        return self._sources

    def origin(self, key: str) -> str | None:
        """Where the value at dotted ``key`` was set: a file, a profile or an environment variable."""
        return origin_of(tuple(key.split(".")), self._layers)

    @property
    def keyspace(self) -> KeySpace:
        """Keys under ``key_prefix``, in the layout ``redis_url`` and ``queue.shards`` need."""
        return KeySpace.for_url(self.key_prefix, self.redis_url, self.queue.shards)

    def model_spec(self, name_or_ref: str) -> ModelSpec:
        """The model named ``name_or_ref``, or an unconfigured model for a raw reference."""
        spec = self.models.get(name_or_ref)
        if spec is not None:
            return spec
        if ":" in name_or_ref:
            return ModelSpec(ref=name_or_ref).with_local_hosts(self.local_hosts)
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
                entry["options"] = mask_secrets(entry["options"])
        masked: dict[str, Any] = mask_urls(data)
        return masked


__all__ = ["Settings"]
