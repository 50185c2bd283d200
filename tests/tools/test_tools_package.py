"""The tools package: its public names, and the entry points that register each tool."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from orchestrator import tools
from orchestrator.engine.registry import Registry
from orchestrator.specialist import Tool

PYPROJECT = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
ENTRY_POINTS: dict[str, str] = PYPROJECT["project"]["entry-points"]["orchestrator.tools"]


def load(target: str) -> type[Tool]:  # type: ignore[type-arg]
    module, _, attribute = target.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    assert isinstance(found, type) and issubclass(found, Tool)
    return found


def test_exported_members() -> None:
    assert tools.__all__ == ["ChunkText", "FlagInjection", "JoinTexts", "NormalizeFields", "RedactPII", "Redaction",
                             "RouteTicket", "ValidateJSON", "flag_injection", "redact"]
    for name in tools.__all__:
        assert getattr(tools, name) is not None


def test_entry_points_name_every_tool() -> None:
    assert set(ENTRY_POINTS) == {"chunk_text", "redact_pii", "validate_json", "route_ticket", "join_texts",
                                 "normalize_fields", "flag_injection"}
    exported = {getattr(tools, n) for n in tools.__all__ if isinstance(getattr(tools, n), type)}
    assert {load(target) for target in ENTRY_POINTS.values()} <= exported


@pytest.mark.parametrize(("name", "target"), sorted(ENTRY_POINTS.items()))
def test_each_tool_describes_itself(name: str, target: str) -> None:
    tool_cls = load(target)
    assert tool_cls.name == name
    info = tool_cls.info()
    assert info.kind == "tool"
    assert len(info.description) > 80 and "Deterministic" in info.description
    assert info.input_schema["properties"] and info.output_schema["properties"]
    registry = Registry()
    registry.add(tool_cls())
    assert registry.agent(name).name == name
