"""Chat threads over HTTP (the web chat's memory): context, one message at a time, shared with the terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from orchestrator.interfaces.chat import ChatSession
from orchestrator.keys import KeySpace
from tests.conftest import REDIS_URL
from tests.interfaces.app import build
from tests.interfaces.conftest import wait_finished

Make = Callable[..., Any]


async def say(client: httpx.AsyncClient, thread: str, message: str, **fields: Any) -> str:
    """Post a message to ``thread``; the id of the job answering it."""
    response = await client.post(f"/v1/threads/{thread}/messages", json={"message": message, **fields})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["thread_id"] == thread and response.headers["location"] == f"/v1/jobs/{body['job_id']}"
    return str(body["job_id"])


async def test_earlier_turns_are_the_context_of_the_next(client: httpx.AsyncClient) -> None:
    first = await say(client, "t-1", "where is my parcel?", workflow="slow_echo")
    second = await say(client, "t-1", "and when will it come?")  # sent at once: waits for the first answer
    job = await wait_finished(client, second)
    assert job["result"]["answer"] == {"reply": "AND WHEN WILL IT COME? (AFTER 2 TURNS)"}
    thread = (await client.get("/v1/threads/t-1")).json()
    assert [(m["role"], m["content"], m["run_id"]) for m in thread["messages"]] == [
        ("user", "slow_echo: where is my parcel?", first),
        ("assistant", "text: WHERE IS MY PARCEL?", first),
        ("user", "and when will it come?", second),
        ("assistant", "reply: AND WHEN WILL IT COME? (AFTER 2 TURNS)", second),
    ]
    assert thread["pending_job_id"] is None
    other = await wait_finished(client, await say(client, "t-2", "a new conversation"))
    assert other["result"]["answer"] == {"reply": "A NEW CONVERSATION"}  # no turns from t-1


async def test_a_thread_answers_one_message_at_a_time(make_client: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEST_DELAY", "3")  # longer than a new message waits for the last answer
    client = await make_client()
    running = await say(client, "busy", "slow", workflow="slow_echo")
    thread = (await client.get("/v1/threads/busy")).json()
    assert thread["pending_job_id"] == running and [m["role"] for m in thread["messages"]] == ["user"]
    busy = await client.post("/v1/threads/busy/messages", json={"message": "hurry up"})
    assert busy.status_code == 409
    assert busy.json()["error"] == {"type": "thread_busy", "message": (
        f"thread 'busy' is still answering its last message (job {running}): "
        f"follow /v1/jobs/{running}/events, or cancel it")}
    assert (await client.delete(f"/v1/jobs/{running}")).json()["status"] == "cancelled"
    await wait_finished(client, await say(client, "busy", "echo: after all"))
    messages = (await client.get("/v1/threads/busy")).json()["messages"]
    assert [m["content"] for m in messages] == [
        "slow_echo: slow", "(run cancelled: cancelled while running)", "echo: after all", "text: AFTER ALL"]


async def test_rejected_messages_are_not_recorded(make_client: Make) -> None:
    client = await make_client(planner={"model": None})
    unknown = await client.post("/v1/threads/t-x/messages", json={"message": "hi", "workflow": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "unknown_workflow"
    unplanned = await client.post("/v1/threads/t-x/messages", json={"message": "plan my week"})
    assert unplanned.status_code == 422 and unplanned.json()["error"]["type"] == "invalid_input"
    assert "no planner model is configured" in unplanned.json()["error"]["message"]
    assert (await client.get("/v1/threads/t-x")).status_code == 404


async def test_web_and_terminal_chats_share_threads_in_redis(queued_server: str, redis_client: aioredis.Redis,
                                                             keyspace: KeySpace) -> None:
    async with httpx.AsyncClient(base_url=queued_server, timeout=15) as client:
        await say(client, "shared", "echo: from the web")
        await wait_finished(client, await say(client, "shared", "and a question"))
        assert len((await client.get("/v1/threads/shared")).json()["messages"]) == 4
        assert await redis_client.exists(keyspace.conversation("shared"))

        orch = build(redis_url=REDIS_URL, key_prefix=keyspace.prefix)
        session = ChatSession.open(orch, thread_id="shared")  # what `orchestrator chat --thread shared` does
        reply = await session.handle("now from the terminal")
        assert reply.text == "reply: NOW FROM THE TERMINAL (AFTER 4 TURNS)"
        await session.aclose()
        await orch.aclose()

        job = await wait_finished(client, await say(client, "shared", "back on the web"))
        assert job["result"]["answer"] == {"reply": "BACK ON THE WEB (AFTER 6 TURNS)"}
