"""The pytest plugin that fails any test reaching a real model: enable it with
``pytest -p orchestrator.models.pytest_plugin`` (or ``pytest_plugins = [...]`` in a conftest).

Every test runs inside :func:`~orchestrator.models.guard.model_requests`; a real model request
(Ollama, OpenAI, llama.cpp ...) is refused and fails the test at teardown, even when the code
under test caught the error (the router turns model errors into failed attempts). Processes a
test starts (CLI, workers, servers) inherit the block through the environment and report what
they blocked to a session file, which the plugin reads. Tests opt in with
``@pytest.mark.allow_model_requests``; a conftest can widen that by overriding the
``model_requests_allowed`` fixture. Use :class:`~orchestrator.models.ScriptedModel` and
:class:`~orchestrator.models.FunctionModel` instead of real models.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from orchestrator.models import guard

try:
    import pytest
except ImportError:  # imported outside a test run (an audit of every module): nothing to define
    _HAVE_PYTEST = False
else:
    _HAVE_PYTEST = True

OPT_IN_MARKER = "allow_model_requests"

if _HAVE_PYTEST:
    _BLOCKED_FILE = pytest.StashKey[str]()
    _SAVED_ENV = pytest.StashKey[dict[str, str | None]]()

    def pytest_configure(config: pytest.Config) -> None:
        """Register the marker and block real model requests in processes the tests start."""
        config.addinivalue_line("markers", f"{OPT_IN_MARKER}: lets a test reach a real model")
        fd, path = tempfile.mkstemp(prefix="blocked-model-requests-", suffix=".log")
        os.close(fd)
        config.stash[_BLOCKED_FILE] = path
        config.stash[_SAVED_ENV] = {name: os.environ.get(name) for name in (guard.BLOCK_ENV, guard.RECORD_ENV)}
        os.environ[guard.BLOCK_ENV] = "1"
        os.environ[guard.RECORD_ENV] = path

    def pytest_unconfigure(config: pytest.Config) -> None:
        for name, value in config.stash.get(_SAVED_ENV, {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if _BLOCKED_FILE in config.stash:
            Path(config.stash[_BLOCKED_FILE]).unlink(missing_ok=True)

    @pytest.fixture
    def model_requests_allowed(request: pytest.FixtureRequest) -> bool:
        """Whether this test may reach real models: marked ``allow_model_requests``. Override it in a
        conftest to opt in more tests (e.g. every ``integration`` test)."""
        return request.node.get_closest_marker(OPT_IN_MARKER) is not None

    @pytest.fixture(autouse=True)
    def _block_real_model_requests(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                                   model_requests_allowed: bool) -> Iterator[None]:
        """Any real model call fails the test unless ``model_requests_allowed``."""
        allowed = model_requests_allowed
        if allowed:
            monkeypatch.delenv(guard.BLOCK_ENV, raising=False)  # processes this test starts may call models too
        record = request.config.stash.get(_BLOCKED_FILE, None)
        offset = Path(record).stat().st_size if record else 0
        with guard.model_requests(allowed=allowed) as blocked:
            yield
        from_processes = guard.blocked_in_file(record, offset) if record else []
        if not allowed and (blocked or from_processes):
            models = ", ".join(sorted({*blocked.models, *from_processes}))
            where = f" ({len(from_processes)} in processes the test started)" if from_processes else ""
            pytest.fail(f"the test reached real models ({models}): {len(blocked.models) + len(from_processes)} "
                        f"blocked request(s){where}; use ScriptedModel/FunctionModel, or mark the test "
                        f"@pytest.mark.{OPT_IN_MARKER}", pytrace=False)


__all__ = ["OPT_IN_MARKER", "model_requests_allowed", "pytest_configure", "pytest_unconfigure"]
