"""Free-form messages through the planning tiers: the chat session and /v1/chat/completions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.events import Collector
from orchestrator.interfaces.chat import ChatSession, describe_event
from orchestrator.store import MemoryStore
from tests.planning.conftest import deployment


async def test_chat_routes_a_free_form_message_without_a_planner_and_says_so() -> None:
    orch = deployment()
    session, events = ChatSession(orch, MemoryStore()), Collector()
    reply = await session.handle("triage this ticket: my parcel is late", events=events)
    assert reply.kind == "answer" and reply.text == "routed: MY PARCEL IS LATE"
    assert reply.result is not None and reply.result.planned_by == "router"
    lines = [describe_event(e) for e in events.events]
    assert any(line and line.startswith("plan (planned by router): 1 steps") for line in lines)
    follow_up = await session.handle("what is the total on this invoice: Total 9.99")  # history is left out
    assert follow_up.result is not None and follow_up.result.answer == {"total": "TOTAL 9.99", "currency": "EUR"}


async def test_chat_explains_a_message_nothing_local_fits() -> None:
    session = ChatSession(deployment(), MemoryStore())
    reply = await session.handle("write a poem about autumn leaves")
    assert reply.kind == "error" and "closest:" in reply.text and "no planner model is configured" in reply.text


async def test_openai_endpoint_answers_free_form_requests_through_the_router(
        make_client: Callable[..., Any]) -> None:
    client = await make_client(orchestrator=deployment())
    response = await client.post("/v1/chat/completions", json={
        "model": "orchestrator", "messages": [{"role": "user", "content": "triage this ticket: refund please"}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == "routed: REFUND PLEASE"
    assert body["orchestrator"]["planned_by"] == "router"
