"""Every route of the API against one contract: keys, size limits, bad bodies, unknown ids.

``ROUTES`` lists each keyed route with a request it accepts; a test checks the list against
the app's OpenAPI schema, so a new route cannot ship without being covered here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.interfaces.conftest import KEY, wait_finished

Make = Callable[..., Any]
AUTH = {"Authorization": f"Bearer {KEY}"}
LIMIT = 1000
THREAD = "t-routes"


@dataclass(frozen=True)
class Case:
    """One route, and a request it would accept with a valid key."""

    method: str
    path: str
    """The route's template; ``{job_id}`` (also as ``{run_id}``: a job's run has its id), ``{model_id}``
    and ``{thread_id}`` are filled in."""
    body: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, job_id: str) -> str:
        return self.path.format(job_id=job_id, run_id=job_id, model_id="workflow:echo", thread_id=THREAD)


ROUTES = [
    Case("POST", "/v1/jobs", {"target": "echo", "inputs": {"text": "hi"}}),
    Case("GET", "/v1/jobs/{job_id}"),
    Case("DELETE", "/v1/jobs/{job_id}"),
    Case("GET", "/v1/jobs/{job_id}/events"),
    Case("GET", "/v1/jobs/{job_id}/timeline"),
    Case("GET", "/v1/agents"),
    Case("GET", "/v1/workflows"),
    Case("GET", "/v1/models"),
    Case("GET", "/v1/models/{model_id}"),
    Case("POST", "/v1/chat/completions", {"model": "workflow:echo", "messages": [{"role": "user", "content": "hi"}]}),
    Case("POST", "/v1/threads/{thread_id}/messages", {"message": "echo: again"}),
    Case("GET", "/v1/threads/{thread_id}"),
    Case("POST", "/v1/runs/{run_id}/feedback", {"step_id": "shout", "output": {"text": "A"}}),
]
POSTS = [case for case in ROUTES if case.body is not None]
PUBLIC = {"GET /": "text/html", "GET /healthz": "application/json"}
"""Open without a key: the web page (it asks for the key) and the health check."""
DOCS = {"GET /openapi.json": "application/json", "GET /docs": "text/html", "GET /redoc": "text/html"}
"""The API description: behind the key by default (``http.docs = "keyed"``), open with ``"open"``."""


@pytest.fixture
async def keyed(make_client: Make) -> tuple[httpx.AsyncClient, str]:
    """A client on an app that needs ``KEY``, with one finished job and one answered thread message."""
    client: httpx.AsyncClient = await make_client(http={"api_keys": [KEY], "max_body_bytes": LIMIT},
                                                  learning={"enabled": True})  # feedback on the job's step
    job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "a"}}, headers=AUTH)).json()[
        "job_id"]
    await wait_finished(client, job_id, AUTH)
    first = await client.post(f"/v1/threads/{THREAD}/messages", json={"message": "echo: first"}, headers=AUTH)
    await wait_finished(client, first.json()["job_id"], AUTH)
    return client, job_id


def send(client: httpx.AsyncClient, case: Case, job_id: str, **kwargs: Any) -> Any:
    if case.body is not None and "content" not in kwargs:
        kwargs["json"] = case.body
    return client.request(case.method, case.url(job_id), **kwargs)


async def test_the_contract_covers_every_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    documented = {f"{method.upper()} {path}" for path, operations in schema["paths"].items() for method in operations}
    assert documented == {case.id for case in ROUTES} | {"GET /healthz"}  # the other public routes are not API


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: c.id)
async def test_every_route_needs_a_valid_key(keyed: tuple[httpx.AsyncClient, str], case: Case) -> None:
    client, job_id = keyed
    for headers, message in [({}, "missing API key: send 'Authorization: Bearer <key>'"),
                             ({"Authorization": "Bearer wrong-key"}, "invalid API key"),
                             ({"Authorization": f"Token {KEY}"}, "invalid API key")]:
        response = await send(client, case, job_id, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"error": {"type": "unauthorized", "message": message}}
    by_query = await send(client, case, job_id, params={"api_key": KEY})
    assert by_query.status_code == (200 if case.path.endswith("/events") else 401)  # EventSource only
    accepted = await send(client, case, job_id, headers=AUTH)
    assert accepted.status_code in (200, 202), accepted.text


@pytest.mark.parametrize("case", POSTS, ids=lambda c: c.id)
async def test_the_key_is_checked_before_the_body(keyed: tuple[httpx.AsyncClient, str], case: Case) -> None:
    client, job_id = keyed
    response = await send(client, case, job_id, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


@pytest.mark.parametrize("case", POSTS, ids=lambda c: c.id)
async def test_every_post_route_refuses_oversized_bodies(keyed: tuple[httpx.AsyncClient, str], case: Case) -> None:
    client, job_id = keyed
    padded = {**(case.body or {}), "padding": "x" * LIMIT}
    response = await send(client, case, job_id, content=json.dumps(padded).encode(),
                          headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "request_too_large"
    assert f"exceeds the limit of {LIMIT}" in error["message"]


@pytest.mark.parametrize("case", POSTS, ids=lambda c: c.id)
async def test_malformed_json_says_where(keyed: tuple[httpx.AsyncClient, str], case: Case) -> None:
    client, job_id = keyed
    response = await send(client, case, job_id, content=b'{"target": "echo",}',
                          headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"
    assert response.json()["error"]["message"] == (
        "the request body is not valid JSON: Expecting property name enclosed in double quotes (at character 18)")


BAD_BODIES = [
    ("/v1/jobs", {}, "body.target: Field required"),
    ("/v1/jobs", {"target": ""}, "body.target: String should have at least 1 character"),
    ("/v1/jobs", {"target": "echo", "inputs": []}, "body.inputs: Input should be a valid dictionary"),
    ("/v1/jobs", {"target": "echo", "inputs": {"txt": "a"}}, "workflow 'echo' has no input 'txt'"),
    ("/v1/jobs", [1], "body: Input should be a valid dictionary or object to extract fields from"),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}, "body.model: Field required"),
    ("/v1/chat/completions", {"model": "orchestrator"}, "body.messages: Field required"),
    ("/v1/chat/completions", {"model": "orchestrator", "messages": [{"content": "x"}]},
     "body.messages.0.role: Field required"),
    ("/v1/chat/completions", {"model": "orchestrator", "messages": [{"role": "system", "content": "x"}]},
     "messages: no user message to answer"),
    (f"/v1/threads/{THREAD}/messages", {}, "body.message: Field required"),
    (f"/v1/threads/{THREAD}/messages", {"message": "x", "model": "y"}, "body.model: Extra inputs are not permitted"),
    ("/v1/threads/bad%20id/messages", {"message": "x"}, "path.thread_id: String should match pattern"),
]


@pytest.mark.parametrize(("path", "body", "problem"), BAD_BODIES, ids=[f"{p} {b}" for p, b, _ in BAD_BODIES])
async def test_bad_bodies_are_422_saying_what_is_wrong(keyed: tuple[httpx.AsyncClient, str], path: str,
                                                       body: Any, problem: str) -> None:
    client, _ = keyed
    response = await client.post(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert problem in response.json()["error"]["message"]


UNKNOWN = [
    ("GET", "/v1/jobs/nope", "not_found", "no job 'nope'"),
    ("DELETE", "/v1/jobs/nope", "not_found", "no job 'nope'"),
    ("GET", "/v1/jobs/nope/events", "not_found", "no job 'nope'"),
    ("GET", "/v1/models/gpt-4o", "model_not_found", "unknown model 'gpt-4o'"),
    ("GET", "/v1/models/workflow:nope", "model_not_found", "unknown model 'workflow:nope'"),
    ("GET", "/v1/threads/never-used", "not_found", "no thread 'never-used'"),
    ("GET", "/v1/nowhere", "not_found", "Not Found"),
]


@pytest.mark.parametrize(("method", "path", "kind", "message"), UNKNOWN, ids=[f"{m} {p}" for m, p, _, _ in UNKNOWN])
async def test_unknown_ids_are_404_json(keyed: tuple[httpx.AsyncClient, str], method: str, path: str, kind: str,
                                        message: str) -> None:
    client, _ = keyed
    response = await client.request(method, path, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {"error": {"type": kind, "message": message}}


async def test_unknown_model_in_a_completion_is_404_json(keyed: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = keyed
    response = await client.post("/v1/chat/completions", headers=AUTH,
                                 json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "model_not_found"
    assert response.json()["error"]["message"].startswith("unknown model 'gpt-4o'; models: orchestrator, ")


@pytest.mark.parametrize("route", sorted(PUBLIC | DOCS))
async def test_public_routes_need_no_key(make_client: Make, route: str) -> None:
    """The page and the health check always; the API description when ``docs = "open"``."""
    client = await make_client(http={"api_keys": [KEY], "docs": "open"})
    method, path = route.split()
    response = await client.request(method, path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith({**PUBLIC, **DOCS}[route])


@pytest.mark.parametrize("route", sorted(DOCS))
async def test_docs_need_the_key_by_default(make_client: Make, route: str) -> None:
    client = await make_client(http={"api_keys": [KEY]})
    method, path = route.split()
    refused = await client.request(method, path)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "unauthorized"
    for kwargs in ({"headers": AUTH}, {"params": {"api_key": KEY}}):
        response = await client.request(method, path, **kwargs)
        assert response.status_code == 200, kwargs
        assert response.headers["content-type"].startswith(DOCS[route])
    if path != "/openapi.json":  # the page hands the key on to the schema it loads
        assert f"/openapi.json?api_key={KEY}" in (await client.get(path, params={"api_key": KEY})).text


async def test_docs_are_open_without_keys_and_can_be_switched_off(make_client: Make) -> None:
    open_client = await make_client()
    assert (await open_client.get("/docs")).status_code == 200
    off = await make_client(http={"api_keys": [KEY], "docs": "off"})
    for route in DOCS:
        assert (await off.get(route.split()[1], headers=AUTH)).status_code == 404


async def test_the_web_page_asks_for_a_key_in_words(keyed: tuple[httpx.AsyncClient, str]) -> None:
    client, _ = keyed
    page = (await client.get("/")).text
    handling = page.split("response.status === 401", 1)[1].split("throw error", 1)[0]
    assert "this server needs an API key: enter it above" in handling
    assert "body.error" not in handling  # the server's "missing API key: send 'Authorization: ...'" stays out
