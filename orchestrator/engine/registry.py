"""Where specialists, tools and workflows are found by name.

Built-ins and third-party packages register through entry points in their
``pyproject.toml``::

    [project.entry-points."orchestrator.specialists"]
    sentiment = "my_pkg.sentiment:Sentiment"

The engine never imports ``agents/`` or ``tools/`` directly; it asks here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from orchestrator.errors import ConfigError, PluginError, UnknownNameError
from orchestrator.specialist import Agent, AgentInfo, Specialist, SpecialistConfig, Tool
from orchestrator.workflow import Workflow

SPECIALISTS_GROUP = "orchestrator.specialists"
TOOLS_GROUP = "orchestrator.tools"
WORKFLOWS_GROUP = "orchestrator.workflows"


def _load(ep: EntryPoint) -> Any:
    """What entry point ``ep`` names; a plugin that cannot be imported is a :class:`PluginError`."""
    try:
        return ep.load()
    except (ImportError, AttributeError) as exc:
        raise PluginError(_label(ep), f"cannot be loaded: {type(exc).__name__}: {exc}") from exc


def _agent_class(ep: EntryPoint, base: type[Any]) -> Any:
    """The agent class entry point ``ep`` names, checked to be a ``base`` subclass (Specialist, Tool)."""
    loaded = _load(ep)
    if not (isinstance(loaded, type) and issubclass(loaded, base)):
        raise PluginError(_label(ep), f"must name a {base.__name__} subclass, got {loaded!r}")
    return loaded


def _label(ep: EntryPoint) -> str:
    return f"entry point {ep.name!r} = {ep.value!r} in group {ep.group!r}"


class Registry:
    """Named specialists (configured instances), tools and workflows."""

    def __init__(self) -> None:
        self._specialists: dict[str, Specialist[Any, Any]] = {}
        self._tools: dict[str, Tool[Any, Any]] = {}
        self._workflows: dict[str, Workflow] = {}

    @classmethod
    def from_entry_points(cls, configs: Mapping[str, SpecialistConfig] | None = None, *,
                          origin: Callable[[str], str | None] | None = None) -> Registry:
        """Everything installed packages register; ``configs`` configures specialists by name.

        ``origin`` names where a configuration key was set (``Settings.origin``), so a specialist
        rejecting its options names the file as well as the key.
        """
        configs = dict(configs or {})
        registry = cls()
        try:
            for ep in entry_points(group=SPECIALISTS_GROUP):
                specialist_cls = _agent_class(ep, Specialist)
                registry.add(specialist_cls(configs.pop(ep.name, None)))
            if configs:
                unknown = sorted(configs)
                raise ConfigError(f"configuration for unknown specialists: {', '.join(unknown)}; "
                                  f"known: {', '.join(sorted(registry._specialists))}",
                                  key=f"specialists.{unknown[0]}")
        except ConfigError as exc:
            raise exc.located(origin(exc.key) if origin and exc.key else None) from None
        for ep in entry_points(group=TOOLS_GROUP):
            registry.add(_agent_class(ep, Tool)())
        for ep in entry_points(group=WORKFLOWS_GROUP):
            workflow = _load(ep)
            if not isinstance(workflow, Workflow):
                raise PluginError(_label(ep), f"must name a Workflow instance, got {workflow!r}")
            registry.add_workflow(workflow)
        return registry

    # -- registration -----------------------------------------------------

    def add(self, agent: Agent[Any, Any]) -> None:
        """Register a specialist or tool instance (replacing one of the same name); anything else
        is a :class:`PluginError` (a ``TypeError`` too)."""
        if isinstance(agent, Specialist):
            self._tools.pop(agent.name, None)
            self._specialists[agent.name] = agent
        elif isinstance(agent, Tool):
            self._specialists.pop(agent.name, None)
            self._tools[agent.name] = agent
        else:
            hint = f"; register an instance: add({agent.__name__}())" if isinstance(agent, type) else ""
            raise PluginError(repr(agent), f"not a Specialist or Tool instance{hint}")

    def add_workflow(self, workflow: Workflow) -> None:
        """Register a workflow (replacing one of the same name)."""
        if not isinstance(workflow, Workflow):
            raise PluginError(repr(workflow), "not a Workflow")
        self._workflows[workflow.name] = workflow

    # -- look-up ------------------------------------------------------------

    @property
    def agent_names(self) -> list[str]:
        return sorted([*self._specialists, *self._tools])

    @property
    def workflow_names(self) -> list[str]:
        return sorted(self._workflows)

    def agent(self, name: str) -> Specialist[Any, Any] | Tool[Any, Any]:
        found = self._specialists.get(name) or self._tools.get(name)
        if found is None:
            raise UnknownNameError("agent", name, self.agent_names)
        return found

    def specialists(self) -> list[Specialist[Any, Any]]:
        return [self._specialists[n] for n in sorted(self._specialists)]

    def workflow(self, name: str) -> Workflow:
        if name not in self._workflows:
            raise UnknownNameError("workflow", name, self.workflow_names)
        return self._workflows[name]

    def workflows(self) -> list[Workflow]:
        return [self._workflows[n] for n in self.workflow_names]

    def catalog(self) -> list[AgentInfo]:
        """What the planner and the interfaces show: name, kind, description, schemas."""
        return [self.agent(n).info() for n in self.agent_names]


__all__ = ["SPECIALISTS_GROUP", "TOOLS_GROUP", "WORKFLOWS_GROUP", "Registry"]
