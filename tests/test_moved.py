"""Modules that moved with the layered layout still import from their old paths, with a warning."""

from __future__ import annotations

import importlib
import sys

import pytest

from orchestrator._moved import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_each_old_path_warns_and_gives_the_new_module(old: str) -> None:
    for name in [n for n in sys.modules if n == old or n.startswith(old + ".")]:
        del sys.modules[name]  # the alias itself, not the new module, is what this test imports
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED[old]}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_submodules_follow_their_package() -> None:
    sys.modules.pop("orchestrator.cli", None)
    sys.modules.pop("orchestrator.cli.run", None)
    with pytest.warns(DeprecationWarning):
        from orchestrator.cli.run import register
    from orchestrator.interfaces.cli.run import register as new_register

    assert register is new_register  # one module, not a second copy loaded from the new folder
    assert new_name("orchestrator.cli.run") == "orchestrator.interfaces.cli.run"
    assert new_name("orchestrator.plan") is None and new_name("orchestrator.appendix") is None
