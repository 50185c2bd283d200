"""The house rules a reader relies on: every module says its one concept first, and none grows past 500 lines."""

from __future__ import annotations

import ast

from tests.test_layers import PACKAGE, module_name, package_files

MAX_LINES = 500


def test_every_module_opens_with_the_concept_it_holds() -> None:
    silent = [module_name(path) for path in package_files()
              if not (ast.get_docstring(ast.parse(path.read_text("utf-8"))) or "").strip()]
    assert silent == []


def test_no_module_is_over_the_size_limit() -> None:
    sizes = {str(path.relative_to(PACKAGE.parent)): len(path.read_text("utf-8").splitlines())
             for path in package_files()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
