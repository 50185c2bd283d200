"""Fixtures for the model-client tests: a recording HTTP server and a port nobody listens on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_server import FakeServer, free_url, start


@pytest.fixture
def server() -> Iterator[FakeServer]:
    """A started FakeServer on a free port of 127.0.0.1."""
    fake, stop = start()
    yield fake
    stop()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return free_url()
