"""The store's tests run on one Redis and on a local Redis Cluster."""

from __future__ import annotations

import pytest

from tests.conftest import parametrize_topology


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_topology(metafunc)
