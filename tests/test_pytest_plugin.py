"""The model-request guard as users enable it: ``pytest -p orchestrator.models.pytest_plugin``, no conftest."""

from __future__ import annotations

import pytest


def test_the_plugin_fails_a_test_that_reached_a_real_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user='''
import pytest
from orchestrator.errors import ModelError
from orchestrator.models import guard

def test_reaches_a_model():
    try:
        guard.check("ollama:qwen2.5:0.5b")
    except ModelError:
        pass  # swallowed, as the router does

@pytest.mark.allow_model_requests
def test_opted_in():
    guard.check("ollama:qwen2.5:0.5b")

def test_scripted_only():
    assert guard.requests_allowed() is False
''')
    result = pytester.runpytest_subprocess("-p", "orchestrator.models.pytest_plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_reaches_a_model*",
                                 "*the test reached real models (ollama:qwen2.5:0.5b): 1 blocked request(s)*"])
