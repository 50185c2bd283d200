"""The registry's errors: what it refuses to register, and plugins whose entry points are broken."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from orchestrator.engine import registry as module
from orchestrator.engine.registry import SPECIALISTS_GROUP, TOOLS_GROUP, WORKFLOWS_GROUP, Registry
from orchestrator.errors import PluginError
from orchestrator.workflow import Workflow
from tests.engine.agents import Echo


def test_only_specialist_and_tool_instances_register() -> None:
    registry = Registry()
    with pytest.raises(PluginError, match=r"not a Specialist or Tool instance$") as caught:
        registry.add(object())  # type: ignore[arg-type]
    assert isinstance(caught.value, TypeError)  # what add() raised before
    with pytest.raises(PluginError, match=r"register an instance: add\(Echo\(\)\)"):
        registry.add(Echo)  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="not a Workflow"):
        registry.add_workflow("triage")  # type: ignore[arg-type]
    registry.add(Echo())
    registry.add_workflow(Workflow("w"))
    assert registry.agent_names == ["echo"] and registry.workflow_names == ["w"]


def installed(monkeypatch: pytest.MonkeyPatch, group: str, value: str) -> None:
    """Pretend one broken plugin is installed in ``group`` (and nothing else anywhere)."""
    def entry_points(*, group: str) -> list[EntryPoint]:
        return [EntryPoint("broken", value, group)] if group == wanted else []

    wanted = group
    monkeypatch.setattr(module, "entry_points", entry_points)


@pytest.mark.parametrize(
    ("group", "value", "reason"),
    [
        (SPECIALISTS_GROUP, "no_such_plugin_pkg.sentiment:Sentiment",
         "cannot be loaded: ModuleNotFoundError: No module named 'no_such_plugin_pkg'"),
        (SPECIALISTS_GROUP, "tests.engine.agents:NoSuchClass", "cannot be loaded: AttributeError"),
        (SPECIALISTS_GROUP, "tests.engine.agents:make_registry", "must name a Specialist subclass, got <function"),
        (TOOLS_GROUP, "tests.engine.agents:Echo", "must name a Tool subclass, got <class 'tests.engine.agents.Echo'>"),
        (WORKFLOWS_GROUP, "tests.engine.agents:Echo", "must name a Workflow instance, got <class"),
    ],
)
def test_a_broken_entry_point_is_a_plugin_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch, group: str, value: str, reason: str
) -> None:
    installed(monkeypatch, group, value)
    with pytest.raises(PluginError) as caught:
        Registry.from_entry_points()
    error: Any = caught.value
    assert error.plugin == f"entry point 'broken' = {value!r} in group {group!r}"
    assert error.reason.startswith(reason)
