"""The same API over the Redis queue, with in-process workers (``serve --with-worker``)."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis
from openai import AsyncOpenAI

from orchestrator.keys import KeySpace
from tests.interfaces.conftest import wait_finished
from tests.interfaces.test_sse import parse_sse


async def test_jobs_run_on_the_queue_and_stream_events(queued_server: str, redis_client: aioredis.Redis,
                                                       keyspace: KeySpace) -> None:
    async with httpx.AsyncClient(base_url=queued_server, timeout=15) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "store": "redis"}
        job_id = (await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "queued"}})).json()[
            "job_id"]
        assert await redis_client.exists(keyspace.job(job_id))  # the record lives in Redis
        events = parse_sse((await client.get(f"/v1/jobs/{job_id}/events")).text)  # follows to the end
        assert [e["event"] for e in events][-1] == "run.finished"
        assert "step.started" in [e["event"] for e in events]
        job = await wait_finished(client, job_id)
        assert job["status"] == "completed" and job["attempts"] == 1
        assert job["result"]["answer"] == {"text": "QUEUED"}
        resumed = parse_sse((await client.get(f"/v1/jobs/{job_id}/events",
                                              headers={"Last-Event-ID": events[-2]["id"]})).text)
        assert [e["event"] for e in resumed] == ["run.finished"]


async def test_cancel_and_unknown_ids_on_the_queue(queued_server: str) -> None:
    async with httpx.AsyncClient(base_url=queued_server, timeout=15) as client:
        assert (await client.get("/v1/jobs/missing")).status_code == 404
        job_id = (await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "x"}})).json()[
            "job_id"]
        await client.delete(f"/v1/jobs/{job_id}")
        job = await wait_finished(client, job_id)
        assert job["status"] == "cancelled"
        events = parse_sse((await client.get(f"/v1/jobs/{job_id}/events")).text)
        assert events[-1]["event"] == "run.failed"


async def test_openai_client_through_the_queue(queued_server: str) -> None:
    async with AsyncOpenAI(base_url=f"{queued_server}/v1", api_key="unused", max_retries=0, timeout=20) as client:
        completion = await client.chat.completions.create(
            model="workflow:echo", messages=[{"role": "user", "content": "via redis"}])
        assert completion.choices[0].message.content == "text: VIA REDIS"


async def test_an_idempotency_key_reused_for_other_inputs_is_a_409(queued_server: str) -> None:
    async with httpx.AsyncClient(base_url=queued_server, timeout=15) as client:
        first = await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "a"},
                                                    "idempotency_key": "order-7"})
        again = await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "a"},
                                                    "idempotency_key": "order-7"})
        other = await client.post("/v1/jobs", json={"target": "slow_echo", "inputs": {"text": "b"},
                                                    "idempotency_key": "order-7"})
    assert first.status_code == again.status_code == 202, first.text
    assert again.json()["job_id"] == first.json()["job_id"]
    assert other.status_code == 409
    assert other.json()["error"]["type"] == "idempotency_conflict"
    assert "use a new key" in other.json()["error"]["message"]
