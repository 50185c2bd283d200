"""What the Orchestrator is asked to run: plugins given in code, a target's inputs, workflow-like names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.payload import check_payload
from orchestrator.plan import Plan
from orchestrator.specialist import Agent, Specialist
from orchestrator.workflow import Workflow

if TYPE_CHECKING:
    from orchestrator.engine.registry import Registry
    from orchestrator.settings import Settings

Plugin = type[Agent[Any, Any]] | Agent[Any, Any] | Workflow
"""What ``Orchestrator(plugins=[...])`` takes: a specialist or tool class or instance, or a Workflow."""


def register_plugin(registry: Registry, plugin: Plugin, settings: Settings) -> None:
    """Add ``plugin`` to ``registry``; a specialist class is built with its ``[specialists.<name>]`` settings."""
    if isinstance(plugin, Workflow):
        registry.add_workflow(plugin)
    elif isinstance(plugin, type) and issubclass(plugin, Specialist):
        try:
            registry.add(plugin(settings.specialists.get(plugin.name)))
        except ConfigError as exc:
            raise exc.located(settings.origin(exc.key) if exc.key else None) from None
    elif isinstance(plugin, type):
        registry.add(plugin())
    else:
        registry.add(plugin)


def checked_inputs(target: str | Plan | Workflow, inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The inputs as a dict, after the payload checks on them and on a task's text."""
    values = dict(inputs or {})
    check_payload(values)
    if isinstance(target, str):
        check_payload(target, "task")
    return values


def looks_like_workflow(target: str, workflows: list[str]) -> bool:
    """``ticket_triag`` or ``my-flow`` is a workflow name; ``summarise`` may be a one-word task."""
    import difflib

    if len(target.split()) != 1:
        return False
    return bool(re.fullmatch(r"[a-z0-9]+(?:[_-][a-z0-9]+)+", target)
                or difflib.get_close_matches(target, workflows, n=1, cutoff=0.8))


__all__ = ["Plugin", "checked_inputs", "looks_like_workflow", "register_plugin"]
