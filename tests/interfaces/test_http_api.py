"""The jobs API over ASGI: submit, status, result, cancel, catalog, health, errors and auth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from tests.interfaces.conftest import KEY, wait_finished

Make = Callable[..., Any]


async def test_submit_runs_a_workflow_and_returns_its_result(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hello"}})
    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/jobs/{response.json()['job_id']}"
    job = await wait_finished(client, response.json()["job_id"])
    assert job["status"] == "completed"
    assert job["result"]["answer"] == {"text": "HELLO"}
    assert job["result"]["steps"][0]["model"] == "function:small"


async def test_free_form_task_is_planned(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/v1/jobs", json={"target": "say hi"})).json()["job_id"]
    job = await wait_finished(client, job_id)
    assert job["result"]["answer"] == {"reply": "SAY HI"}
    assert job["result"]["cost"]["baseline_model"] == "function:planner"


async def test_idempotency_key_returns_the_same_job(client: httpx.AsyncClient) -> None:
    body = {"target": "echo", "inputs": {"text": "once"}, "idempotency_key": "k-1"}
    first = (await client.post("/v1/jobs", json=body)).json()["job_id"]
    second = (await client.post("/v1/jobs", json=body)).json()["job_id"]
    assert first == second
    other = await client.post("/v1/jobs", json={**body, "inputs": {"text": "twice"}})
    assert other.status_code == 409 and other.json()["error"]["type"] == "idempotency_conflict"


async def test_cancel_stops_a_running_job(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "x"}})).json()["job_id"]
    await asyncio.sleep(0.1)
    response = await client.delete(f"/v1/jobs/{job_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    events = (await client.get(f"/v1/jobs/{job_id}/events")).text
    assert "event: run.failed" in events and '"cancelled"' in events


async def test_unknown_ids_are_404_json(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/v1/jobs/nope"), ("DELETE", "/v1/jobs/nope"), ("GET", "/v1/jobs/nope/events")]:
        response = await client.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["error"] == {"type": "not_found", "message": "no job 'nope'"}
    assert (await client.get("/v1/nowhere")).json()["error"]["type"] == "not_found"


async def test_bad_bodies_are_422_json(client: httpx.AsyncClient) -> None:
    cases: list[dict[str, Any]] = [
        {"json": {"inputs": {}}},
        {"json": {"target": "echo", "inputs": "text"}},
        {"json": {"target": "echo", "extra": 1}},
        {"json": {"target": "echo", "sensitivity": {"text": "secret"}}},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ]
    for case in cases:
        response = await client.post("/v1/jobs", **case)
        assert response.status_code == 422, case
        error = response.json()["error"]
        assert error["type"] == "invalid_request" and error["message"]


async def test_bad_workflow_inputs_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"txt": "a"}})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_input"
    assert "has no input 'txt'" in response.json()["error"]["message"]


async def test_unknown_workflow_without_planner_is_400(make_client: Make) -> None:
    client = await make_client(planner={"model": None})
    response = await client.post("/v1/jobs", json={"target": "nope_flow"})  # workflow-shaped
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "unknown_workflow"
    assert "echo, slow_echo" in response.json()["error"]["message"]
    response = await client.post("/v1/jobs", json={"target": "nope"})  # may be a one-word task
    assert (response.status_code, response.json()["error"]["type"]) == (400, "bad_request")
    assert "echo, slow_echo" in response.json()["error"]["message"]
    response = await client.post("/v1/jobs", json={"target": "do something clever"})
    assert response.status_code == 400
    assert "free-form tasks need a planner model" in response.json()["error"]["message"]


async def test_oversized_bodies_are_413(make_client: Make) -> None:
    client = await make_client(http={"max_body_bytes": 1000})
    big = {"target": "echo", "inputs": {"text": "x" * 2000}}
    response = await client.post("/v1/jobs", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"

    async def chunks() -> Any:  # no Content-Length: the streamed size is what counts
        for _ in range(10):
            yield b" " * 200

    response = await client.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    small = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "fits"}})
    assert small.status_code == 202


async def test_api_keys(make_client: Make) -> None:
    client = await make_client(http={"api_keys": [KEY, "second-key"]})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        response = await client.get("/v1/workflows", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["type"] == "unauthorized"
    assert (await client.post("/v1/jobs", json={"target": "echo"})).status_code == 401
    assert (await client.get("/v1/models")).status_code == 401
    assert (await client.get("/v1/workflows", headers={"Authorization": "Bearer second-key"})).status_code == 200
    ok = {"Authorization": f"Bearer {KEY}"}
    job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "a"}},
                                headers=ok)).json()["job_id"]
    await wait_finished(client, job_id, ok)
    # ?api_key= is accepted on the events route only (EventSource cannot send headers)
    assert (await client.get(f"/v1/jobs/{job_id}/events", params={"api_key": KEY})).status_code == 200
    assert (await client.get(f"/v1/jobs/{job_id}/events", params={"api_key": "no"})).status_code == 401
    assert (await client.get(f"/v1/jobs/{job_id}", params={"api_key": KEY})).status_code == 401
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/")).status_code == 200


async def test_catalog(client: httpx.AsyncClient) -> None:
    agents = (await client.get("/v1/agents")).json()["agents"]
    assert {a["name"] for a in agents} == {"echo", "sleep"}
    workflows = (await client.get("/v1/workflows")).json()
    assert workflows["planner"] is True
    assert [w["name"] for w in workflows["workflows"]] == ["echo", "slow_echo"]
    assert workflows["workflows"][0]["inputs"]["text"]["required"] is True


async def test_healthz_reports_the_store(client: httpx.AsyncClient, make_client: Make) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "store": "memory"}
    down = await make_client(redis_url="redis://127.0.0.1:1/0")
    response = await down.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "store_unavailable"
    assert "cannot reach Redis" in response.json()["error"]["message"]


async def test_openapi_schema_lists_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/agents", "/v1/workflows",
                 "/healthz", "/v1/chat/completions", "/v1/models"):
        assert path in paths
    assert set(paths["/v1/jobs/{job_id}"]) == {"get", "delete"}


async def test_web_chat_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    assert "EventSource" in response.text and "/v1/workflows" in response.text and "/v1/threads/" in response.text
