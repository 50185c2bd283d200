"""Job events as server-sent events from a real server: live, resumable, authorised."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.interfaces.conftest import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}


def parse_sse(text: str) -> list[dict[str, Any]]:
    """SSE messages as dicts of their fields (comments dropped)."""
    messages = []
    for block in text.strip().split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("id", "event", "data"):
                fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            messages.append(fields)
    return messages


async def test_events_arrive_live_while_the_job_runs(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, headers=AUTH, timeout=10) as client:
        job_id = (await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "live"}})).json()[
            "job_id"]
        seen: list[tuple[str, float, str]] = []
        async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            buffer = ""
            async for chunk in response.aiter_text():
                buffer += chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    for message in parse_sse(block + "\n\n"):
                        status = (await client.get(f"/v1/jobs/{job_id}")).json()["status"]
                        seen.append((message["event"], time.monotonic(), status))
    kinds = [kind for kind, _, _ in seen]
    assert kinds == ["run.started", "plan.ready", "step.started", "step.finished", "step.started",
                     "step.finished", "run.finished"]
    # the first step started while the job was still running, well before it finished
    started = next(s for s in seen if s[0] == "step.started")
    assert started[2] == "running"
    assert seen[-1][1] - started[1] > 0.3


async def test_last_event_id_resumes_after_that_event(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, headers=AUTH, timeout=10) as client:
        job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "a"}})).json()["job_id"]
        everything = parse_sse((await client.get(f"/v1/jobs/{job_id}/events")).text)
        assert everything[-1]["event"] == "run.finished"
        assert everything[-1]["data"]["data"]["answer"] == {"text": "A"}
        rest = parse_sse((await client.get(f"/v1/jobs/{job_id}/events",
                                           headers={"Last-Event-ID": everything[1]["id"]})).text)
        assert [m["id"] for m in rest] == [m["id"] for m in everything[2:]]
        after = parse_sse((await client.get(f"/v1/jobs/{job_id}/events",
                                            params={"after": everything[-1]["id"]})).text)
        assert after == []  # a finished job's stream ends at once: EventSource reconnects find nothing


async def test_events_route_takes_the_key_as_query_parameter(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "q"}},
                                    headers=AUTH)).json()["job_id"]
        unauthorised = await client.get(f"/v1/jobs/{job_id}/events")
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["type"] == "unauthorized"
        events = parse_sse((await client.get(f"/v1/jobs/{job_id}/events", params={"api_key": KEY})).text)
        assert events[-1]["event"] == "run.finished"
