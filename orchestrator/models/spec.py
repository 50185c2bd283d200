"""How a deployment names and configures a model, and how a model is built from that."""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import os
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from orchestrator.errors import ConfigError
from orchestrator.models.base import Model
from orchestrator.models.endpoints import endpoints, endpoints_problem

#: Reference scheme -> "module:factory". Factories are imported only when used,
#: so a deployment that never touches llama.cpp never imports it.
PROVIDERS: dict[str, str] = {
    "ollama": "orchestrator.models.ollama:OllamaModel",
    "openai": "orchestrator.models.openai_compat:OpenAICompatibleModel",
    "llamacpp": "orchestrator.models.llamacpp:LlamaCppModel",
    "st": "orchestrator.models.sentence:SentenceTransformerModel",
    "python": "orchestrator.models.spec:python_model",
}

#: Schemes of the shipped test models (ScriptedModel, FunctionModel): no factory, their clients
#: are handed to the Orchestrator (``models=``), but configuration may name and price them.
IN_CODE_SCHEMES = frozenset({"scripted", "function"})

_LOCAL_SCHEMES = {"llamacpp", "st", "python", *IN_CODE_SCHEMES}
"""Models that run inside this process (or in the caller's own code): local by nature."""
_UNIX_SCHEMES = ("unix", "http+unix", "https+unix")
_OLLAMA_HOST = "http://127.0.0.1:11434"


def _normal_host(host: str) -> str:
    """A host as declared in ``local_hosts``: lower case, no brackets; trailing dots are kept."""
    return host.strip().lower().removeprefix("[").removesuffix("]")


def _url_host(url: str) -> str | None:
    """The host a client would connect to, or None when the two parsers we trust disagree or fail.

    ``urllib`` and ``httpx`` (what the clients send with) must agree, so a URL one of them reads
    differently (a backslash before ``@``, odd escapes) never counts as local.
    """
    try:
        split = urlsplit(url).hostname
        parsed = httpx.URL(url).host
    except (ValueError, httpx.InvalidURL):
        return None
    if not split or not parsed or _normal_host(split) != _normal_host(parsed):
        return None
    return _normal_host(parsed)


def is_local_url(url: str, local_hosts: Iterable[str] = ()) -> bool:
    """Whether ``url`` reaches this machine (or a host the deployment declared local).

    Local means: a unix socket URL, a loopback address literal (127.0.0.0/8, ``::1``), the name
    ``localhost`` exactly, or a host in ``local_hosts``, all read from the parsed host, never
    from a substring: ``https://localhost.attacker.example``, ``http://127.0.0.1@evil.example``,
    ``127.0.0.1.nip.io`` or ``localhost.`` are not local unless declared.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _UNIX_SCHEMES:
        return True
    host = _url_host(url)
    if host is None:
        return False
    if host == "localhost" or host in {_normal_host(h) for h in local_hosts}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ModelSpec(BaseModel):
    """A named model of a deployment: what it is, where it runs, what it costs."""

    name: str = ""
    """The name specialists' cascades use; defaults to the reference."""
    ref: str
    """``scheme:id``, e.g. ``ollama:qwen2.5:1.5b``, ``openai:gpt-4o-mini``, ``llamacpp:/m.gguf``."""
    local: bool | None = None
    """Runs on the deployment's own hardware. Defaults by scheme, and for ``openai`` and ``ollama``
    by the parsed host of ``base_url`` / ``host`` (loopback, ``localhost``, a unix socket, or a
    name in the deployment's ``local_hosts``); set it to say so explicitly."""
    price_input: float = 0.0
    """US dollars per 1M input tokens."""
    price_output: float = 0.0
    """US dollars per 1M output tokens."""
    concurrency: int = Field(default=4, ge=1)
    """Calls in flight at once against this model."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds one call may take."""
    retries: int = Field(default=2, ge=0)
    """Retries on transient failures (connection errors, 5xx, timeouts); never on 4xx."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options: ``host``, ``base_url``, ``api_key_env``, ``num_ctx``, ``keep_alive``, ..."""

    _declared_local: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _defaults(self) -> ModelSpec:
        if ":" not in self.ref:
            raise ValueError(f"model ref {self.ref!r} must look like 'scheme:model', e.g. 'ollama:qwen2.5:1.5b'")
        if (problem := endpoints_problem(self.scheme, self.options)) is not None:
            raise ValueError(problem)
        if not self.name:
            self.name = self.ref
        self._declared_local = self.local is not None
        if self.local is None:
            self.local = self._default_local()
        return self

    def with_local_hosts(self, local_hosts: Iterable[str]) -> ModelSpec:
        """This spec with its default locality decided again, counting ``local_hosts`` as local
        (an explicit ``local`` always stands)."""
        hosts = list(local_hosts)
        if self._declared_local or not hosts or self.local:
            return self
        if not self._default_local(hosts):
            return self
        spec = self.model_copy(update={"local": True})
        spec._declared_local = False
        return spec

    @property
    def scheme(self) -> str:
        return self.ref.split(":", 1)[0]

    @property
    def model_id(self) -> str:
        return self.ref.split(":", 1)[1]

    @property
    def is_local(self) -> bool:
        return bool(self.local)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Dollars for that many tokens on this model."""
        return (input_tokens * self.price_input + output_tokens * self.price_output) / 1_000_000

    def backend_problem(self) -> str | None:
        """Why no backend serves this reference (e.g. ``olama:qwen``); None when one does."""
        if self.scheme in PROVIDERS or self.scheme in IN_CODE_SCHEMES:
            return None
        close = difflib.get_close_matches(self.scheme, list(PROVIDERS), n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown model scheme {self.scheme!r} in {self.ref!r}{guess}; known: {', '.join(sorted(PROVIDERS))}"

    def _default_local(self, local_hosts: Iterable[str] = ()) -> bool:
        if replicas := endpoints(self.options):  # local only when every replica is
            return all(is_local_url(url, local_hosts) for url in replicas)
        if self.scheme == "openai":
            base_url = self.options.get("base_url")
            return isinstance(base_url, str) and is_local_url(base_url, local_hosts)
        if self.scheme == "ollama":  # the client reads the same option, variable and default
            host = str(self.options.get("host") or os.environ.get("OLLAMA_HOST") or _OLLAMA_HOST)
            return is_local_url(host if "://" in host else f"http://{host}", local_hosts)
        return self.scheme in _LOCAL_SCHEMES


class ModelFactory(Protocol):
    def __call__(self, spec: ModelSpec) -> Model: ...


def python_model(spec: ModelSpec) -> Model:
    """``python:package.module:factory``: a model built by your own code, ``factory(spec) -> Model``.

    Plugs in a custom client, or a scripted model for tests and demos, from configuration alone.
    """
    module_name, _, attr = spec.model_id.partition(":")
    if not attr:
        raise ConfigError(f"{spec.ref!r} must look like 'python:package.module:factory'", key=spec.name)
    try:
        factory: ModelFactory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load model factory {spec.model_id!r}: {exc}", key=spec.name) from exc
    return factory(spec)


def create_model(spec: ModelSpec) -> Model:
    """Build the client for ``spec`` from its scheme (several endpoints: a
    :class:`~orchestrator.models.replicas.ReplicatedModel` over one client each)."""
    if endpoints(spec.options):
        from orchestrator.models.replicas import ReplicatedModel

        return ReplicatedModel(spec)
    target = PROVIDERS.get(spec.scheme)
    if target is None:
        problem = spec.backend_problem() or (f"{spec.ref!r} is a model built in code: pass its client to "
                                             "Orchestrator(models={...})")
        raise ConfigError(problem, key=spec.name)
    module_name, attr = target.split(":")
    try:
        factory: ModelFactory = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        extra = {"llamacpp": "llamacpp", "st": "embeddings"}.get(spec.scheme, "")
        hint = f"; install it with: pip install 'slm-orchestrator[{extra}]'" if extra else ""
        raise ConfigError(f"the {spec.scheme} backend is not installed ({exc}){hint}", key=spec.name) from exc
    return factory(spec)


__all__ = ["IN_CODE_SCHEMES", "PROVIDERS", "ModelFactory", "ModelSpec", "create_model", "is_local_url", "python_model"]
