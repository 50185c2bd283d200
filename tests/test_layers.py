"""The layers of docs/architecture.md, enforced: every import in the package goes down, never up.

1. foundation: errors, types, payload, plan, workflow, specialist, events, logging, keys, settings, models, telemetry
2. plugins: orchestrator.agents, orchestrator.tools (they never import each other)
3. engine and state: engine, store, redis, queue (never the plugins: they come through the registry)
4. composition root: orchestrator.workflows and orchestrator.interfaces

A module may import its own layer or any layer below, with the one exception above. Imports
under ``if TYPE_CHECKING:`` and inside functions count too: a layer is about what a module
knows, not only about what it loads at start-up.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Mapping, Set
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "orchestrator"

FOUNDATION, PLUGINS, ENGINE, COMPOSITION = 1, 2, 3, 4
LAYER_NAMES = {
    FOUNDATION: "foundation", PLUGINS: "plugins", ENGINE: "engine and state", COMPOSITION: "composition root"}

#: Module prefixes and their layer; the longest matching prefix wins.
LAYERS: dict[str, int] = {
    "orchestrator.errors": FOUNDATION,
    "orchestrator.types": FOUNDATION,
    "orchestrator.plan": FOUNDATION,
    "orchestrator.workflow": FOUNDATION,
    "orchestrator.specialist": FOUNDATION,
    "orchestrator.events": FOUNDATION,
    "orchestrator.logging": FOUNDATION,
    "orchestrator.keys": FOUNDATION,
    "orchestrator.payload": FOUNDATION,
    "orchestrator.datasets": FOUNDATION,
    "orchestrator.calibration": FOUNDATION,
    "orchestrator.learner": FOUNDATION,
    "orchestrator._optional": FOUNDATION,
    "orchestrator.settings": FOUNDATION,
    "orchestrator.models": FOUNDATION,
    "orchestrator.telemetry": FOUNDATION,
    "orchestrator.agents": PLUGINS,
    "orchestrator.tools": PLUGINS,
    "orchestrator.engine": ENGINE,
    "orchestrator.evaluation": ENGINE,
    "orchestrator.store": ENGINE,
    "orchestrator.learning": ENGINE,
    "orchestrator.redis": ENGINE,
    "orchestrator.queue": ENGINE,
    "orchestrator.planning": ENGINE,
    "orchestrator.worker": ENGINE,
    "orchestrator._queue_scripts": ENGINE,
    "orchestrator.workflows": COMPOSITION,
    "orchestrator.interfaces": COMPOSITION,
    "orchestrator.__main__": COMPOSITION,
}
#: The public facade re-exports names from every layer; the alias finder maps old paths to new.
EXEMPT = {"orchestrator", "orchestrator._moved"}
PLUGIN_PACKAGES = ("orchestrator.agents", "orchestrator.tools")


def layer_of(module: str) -> int | None:
    """The layer of ``module``, or None when no prefix of the table covers it."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_files() -> list[Path]:
    """Every module file of the installed package, the plugin folders through their links."""
    return sorted(Path(folder, name) for folder, _, names in os.walk(PACKAGE, followlinks=True)
                  for name in names if name.endswith(".py"))


def package_sources() -> dict[str, str]:
    return {module_name(path): path.read_text("utf-8") for path in package_files()}


def package_names() -> set[str]:
    return {module_name(path) for path in package_files() if path.name == "__init__.py"}


def imported(module: str, source: str, *, is_package: bool = False) -> Iterable[str]:
    """The absolute names ``source`` imports (relative imports resolved against ``module``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def violations(sources: Mapping[str, str], packages: Set[str] = frozenset()) -> list[str]:
    """One line per import that breaks a rule, naming the module, the import and the rule;
    ``packages`` names the modules that are packages (for relative imports)."""
    problems: list[str] = []
    for module, source in sources.items():
        if module in EXEMPT:
            continue
        own = layer_of(module)
        if own is None:
            problems.append(f"{module}: no layer; add its package to LAYERS in tests/test_layers.py "
                            "and to docs/architecture.md")
            continue
        reported: list[str] = []
        for target in sorted(set(imported(module, source, is_package=module in packages))):
            if any(target.startswith(parent + ".") for parent in reported):
                continue  # ``from a.b import c`` breaks a rule once, not again for a.b.c
            rule = broken_rule(module, own, target)
            if rule is not None:
                problems.append(rule)
                reported.append(target)
    return problems


def broken_rule(module: str, own: int, target: str) -> str | None:
    """The rule ``module`` (of layer ``own``) breaks by importing ``target``, in words; None if none."""
    if target.split(".")[0] in ("agents", "tools", "workflows"):
        return f"{module} imports {target}: the plugin folders install as orchestrator.{target}; import that"
    theirs = layer_of(target)
    if theirs is None or target in EXEMPT:
        return None
    if theirs > own:
        return (f"{module} ({LAYER_NAMES[own]}) imports {target} ({LAYER_NAMES[theirs]}): "
                "a module imports only its own layer or those below it")
    if own == ENGINE and theirs == PLUGINS:
        return (f"{module} (engine and state) imports {target} (plugins): the engine finds "
                "specialists and tools through the registry, never by importing them")
    if own == PLUGINS and theirs == PLUGINS and _package(module) != _package(target):
        return f"{module} imports {target}: the plugin packages are independent of each other"
    return None


def _package(module: str) -> str:
    return next(p for p in PLUGIN_PACKAGES if module == p or module.startswith(p + "."))


def test_every_import_follows_the_layers() -> None:
    sources = package_sources()
    assert {"orchestrator.engine.executor", "orchestrator.agents.classifier", "orchestrator.interfaces.cli"} <= set(
        sources)  # the walk follows the plugin links
    assert violations(sources, package_names()) == []


def test_a_deliberate_violation_is_named_with_its_rule() -> None:
    sources = {
        "orchestrator.plan": "from orchestrator.engine.executor import Executor\n",
        "orchestrator.engine.fake": "def f():\n    from orchestrator.agents.classifier import Classifier\n",
        "orchestrator.agents.fake": "from ..tools import pii\n",
        "orchestrator.store.fake": "import tools.pii\n",
        "orchestrator.newthing": "",
        "orchestrator.interfaces.fine": "from orchestrator.agents import Classifier\nimport orchestrator.engine.app\n",
    }
    assert violations(sources) == [
        "orchestrator.plan (foundation) imports orchestrator.engine.executor (engine and state): "
        "a module imports only its own layer or those below it",
        "orchestrator.engine.fake (engine and state) imports orchestrator.agents.classifier (plugins): the engine "
        "finds specialists and tools through the registry, never by importing them",
        "orchestrator.agents.fake imports orchestrator.tools: the plugin packages are independent of each other",
        "orchestrator.store.fake imports tools.pii: the plugin folders install as orchestrator.tools.pii; import that",
        "orchestrator.newthing: no layer; add its package to LAYERS in tests/test_layers.py "
        "and to docs/architecture.md",
    ]
