"""The model pool: a deployment's models by name, with their clients and concurrency limits.

The pool knows *which* models exist and builds each client once, lazily, from its
:class:`~orchestrator.models.spec.ModelSpec`; clients handed in (``clients=``,
e.g. scripted models in tests) are used as they are. It does not decide *what*
may be sent to a model: that is the guard's job (``orchestrator.engine.guard``),
which takes each model's client and its concurrency limit from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from orchestrator.errors import ConfigError
from orchestrator.models.base import Model
from orchestrator.models.spec import ModelSpec, create_model


class ModelPool:
    """The deployment's models by name: specs, clients (built lazily) and concurrency limits."""

    def __init__(self, specs: Mapping[str, ModelSpec], clients: Mapping[str, Model] | None = None):
        self._specs = dict(specs)
        self._clients: dict[str, Model] = dict(clients or {})
        self._limits: dict[str, asyncio.Semaphore] = {}
        for name, client in self._clients.items():
            self._specs.setdefault(name, ModelSpec(name=name, ref=client.ref,
                                                   local=client.capabilities.local))

    def spec(self, name: str) -> ModelSpec:
        """The named model's spec; a bare reference (``scheme:id``) not configured gets a default one."""
        if name not in self._specs:
            if ":" not in name:
                known = ", ".join(sorted(self._specs)) or "none"
                raise ConfigError(f"unknown model {name!r}; configured models: {known}", key="models")
            self._specs[name] = ModelSpec(ref=name)
        return self._specs[name]

    def client(self, name: str) -> Model:
        """The named model's client, built on first use."""
        if name not in self._clients:
            self._clients[name] = create_model(self.spec(name))
        return self._clients[name]

    def limit(self, name: str) -> asyncio.Semaphore:
        """The semaphore bounding concurrent requests to the named model (``spec.concurrency``)."""
        if name not in self._limits:
            self._limits[name] = asyncio.Semaphore(self.spec(name).concurrency)
        return self._limits[name]

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


__all__ = ["ModelPool"]
