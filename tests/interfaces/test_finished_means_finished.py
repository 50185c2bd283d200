"""An event that says the run finished is readable as finished: right after ``run.finished``
(or ``run.failed``) on the SSE stream, ``GET /v1/jobs/{id}`` has the final status and result."""

from __future__ import annotations

import httpx

from tests.interfaces.conftest import KEY
from tests.interfaces.test_sse import parse_sse


async def _terminal_then_get(client: httpx.AsyncClient, target: str) -> dict[str, object]:
    job_id = (await client.post("/v1/jobs", json={"target": target, "inputs": {"text": "done"}})).json()["job_id"]
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        seen = ""
        async for chunk in stream.aiter_text():
            seen += chunk
            if "event: run.finished" in seen or "event: run.failed" in seen:
                break  # read the job the moment the terminal event arrives, as a client would
    job: dict[str, object] = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert parse_sse(seen)[-1]["event"] in ("run.finished", "run.failed")
    return job


async def test_on_the_queue_the_job_is_completed_when_its_finished_event_arrives(queued_server: str) -> None:
    async with httpx.AsyncClient(base_url=queued_server, timeout=15) as client:
        for _ in range(5):  # the report: 5 of 5 reads said running
            job = await _terminal_then_get(client, "echo")
            assert job["status"] == "completed"
            assert isinstance(job["result"], dict) and job["result"]["answer"] == {"text": "DONE"}


async def test_in_process_the_job_is_completed_when_its_finished_event_arrives(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=15, headers={"Authorization": f"Bearer {KEY}"}) as client:
        for _ in range(5):
            job = await _terminal_then_get(client, "echo")
            assert job["status"] == "completed"
            assert isinstance(job["result"], dict) and job["result"]["answer"] == {"text": "DONE"}
