"""Property-based requests to every API operation from the OpenAPI schema (schemathesis), bounded.

A fixed, small number of examples per operation keeps it a CI test: no operation may answer
with a server error, an undocumented status, or a body or content type that breaks its
documented schema. Two default checks are left out, as not about this API's contract:
``positive_data_acceptance`` (a schema-valid body may still name an unknown workflow or hold
no user message: those are 4xx by design) and ``allow_header_conformance`` (Starlette's 405
``Allow`` header names the methods of the first route on a path, e.g. GET but not DELETE for
``/v1/jobs/{job_id}``; the 405 itself is checked). Skipped when
schemathesis (in the ``dev`` extras) is not installed.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from orchestrator.interfaces.http import create_app  # noqa: E402
from tests.interfaces.app import build  # noqa: E402
from tests.interfaces.conftest import KEY  # noqa: E402

# schemathesis draws from the random module inside its strategies (its generation/dictionaries.py),
# which this Hypothesis version deprecates: a warning about the two libraries, not about this API.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

EXAMPLES = 15
"""Examples per operation (x 11 operations)."""
AUTH = {"Authorization": f"Bearer {KEY}"}
EXCLUDED = [schemathesis.checks.positive_data_acceptance, schemathesis.checks.allow_header_conformance]

app = create_app(build(redis_url=None, http={"api_keys": [KEY], "docs": "open"}, default_sensitivity="public"))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_every_operation_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, excluded_checks=EXCLUDED)
