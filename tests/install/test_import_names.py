"""What the package imports and claims, read without running it.

Nothing under ``orchestrator/`` (the folders it maps in included) imports the generic top-level
names ``agents``, ``tools`` or ``workflows``, which other distributions own (``openai-agents``
installs ``agents``); no module imports an optional package when it is imported; and the wheel
installs the one top-level package ``orchestrator``, with every entry point inside it.
"""

from __future__ import annotations

import ast
import configparser
import os
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.install.venvs import INSTALL_TIMEOUT, OPTIONAL, ROOT

pytestmark = pytest.mark.install

COLLIDING = frozenset({"agents", "tools", "workflows"})
"""Top-level names the repository's folders had, and that installed code must not import."""


def _modules() -> Iterator[tuple[str, ast.Module]]:
    """Every module of the package, following the symlinked agents/, tools/ and workflows/."""
    package = ROOT / "orchestrator"
    for folder, _, files in os.walk(package, followlinks=True):
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(folder) / name
                yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _imported(node: ast.stmt) -> list[str]:
    """The absolute module names an import statement names (relative imports are inside the package)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


def _is_type_checking(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run when the module is imported: the body, into ``if``/``try``/``with`` blocks
    (not functions or classes' methods, and not ``if TYPE_CHECKING:``)."""
    for node in body:
        if _is_type_checking(node):
            yield from _import_time_statements(getattr(node, "orelse", []))
            continue
        yield node
        if isinstance(node, ast.ClassDef):
            yield from _import_time_statements([n for n in node.body
                                               if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)])
        for field in ("body", "orelse", "finalbody", "handlers"):
            if isinstance(node, ast.If | ast.Try | ast.With | ast.ExceptHandler) and hasattr(node, field):
                yield from _import_time_statements(getattr(node, field))


def test_no_module_imports_a_colliding_top_level_name() -> None:
    found = [f"{path}:{node.lineno} imports {name}"
             for path, tree in _modules() for node in ast.walk(tree) if isinstance(node, ast.stmt)
             for name in _imported(node) if name.split(".")[0] in COLLIDING]
    assert found == []


def test_no_module_imports_an_optional_package_when_imported() -> None:
    optional = set(OPTIONAL)
    found = [f"{path}:{node.lineno} imports {name}"
             for path, tree in _modules() for node in _import_time_statements(tree.body)
             for name in _imported(node) if name.split(".")[0] in optional]
    assert found == []


def test_the_checks_see_the_mapped_folders_and_what_they_look_for() -> None:
    paths = {path for path, _ in _modules()}
    assert {"orchestrator/agents/classifier.py", "orchestrator/tools/pii.py",
            "orchestrator/workflows/ticket_triage.py"} <= paths
    tree = ast.parse("import numpy\nif TYPE_CHECKING:\n    import sklearn\nelse:\n    import torch\n"
                     "try:\n    from agents import Agent\nexcept ImportError:\n    pass\n"
                     "def f():\n    import llama_cpp\n")
    assert [n for node in _import_time_statements(tree.body) for n in _imported(node)] == ["numpy", "torch",
                                                                                            "agents"]


def test_entry_points_name_modules_inside_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    targets = [*project["scripts"].values(),
               *(target for group in project["entry-points"].values() for target in group.values())]
    assert targets and all(target.startswith("orchestrator.") for target in targets)


@pytest.mark.timeout(INSTALL_TIMEOUT)  # builds the wheel when it runs first
def test_the_wheel_installs_only_the_orchestrator_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [info] = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{info}/entry_points.txt").decode())
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
    assert {name.split("/")[0] for name in names} == {"orchestrator", info}
    assert top_level == ["orchestrator"]
    assert "orchestrator/agents/classifier.py" in names and "orchestrator/workflows/ticket_triage.py" in names
    targets = [target for section in entry_points.sections() for target in entry_points[section].values()]
    assert targets and all(target.startswith("orchestrator.") for target in targets)
