"""HTTP telemetry: ``traceparent`` honoured, one trace from request to queued run, ``/metrics``,
and access lines without bodies or keys."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.interfaces.http import create_app
from orchestrator.keys import KeySpace
from tests.conftest import REDIS_URL
from tests.interfaces.app import build
from tests.interfaces.conftest import lifespan, wait_finished

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"


async def _submit(orch: Any, *, workers: int = 0, target: str = "echo",
                  **request: Any) -> tuple[dict[str, Any], httpx.AsyncClient]:
    """Submit ``target`` over HTTP and wait until it finished: the job (with the ``/metrics`` text)."""
    app = create_app(orch, workers=workers)
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        accepted = await client.post("/v1/jobs", json={"target": target, "inputs": {"text": "hi"}}, **request)
        job = await wait_finished(client, accepted.json()["job_id"])
        job["metrics"] = (await client.get("/metrics")).text
    await orch.aclose()
    return job, client


async def test_an_incoming_traceparent_is_the_parent_of_the_request_and_its_run(spans: InMemorySpanExporter) -> None:
    job, _ = await _submit(build(redis_url=None), headers={"traceparent": TRACEPARENT})
    assert job["status"] == "completed"
    finished = spans.get_finished_spans()
    post, = [s for s in finished if s.name == "POST /v1/jobs"]
    assert format(post.context.trace_id, "032x") == TRACE_ID and format(post.parent.span_id, "016x") == PARENT
    assert dict(post.attributes or {})["http.response.status_code"] == 202
    run, = [s for s in finished if s.name == "invoke_workflow echo"]
    assert run.context.trace_id == post.context.trace_id and run.parent.span_id == post.context.span_id


async def test_a_queued_job_carries_the_trace_to_the_worker(spans: InMemorySpanExporter, keyspace: KeySpace,
                                                            redis_client: Any) -> None:
    job, _ = await _submit(build(redis_url=REDIS_URL, key_prefix=keyspace.prefix), workers=1,
                           headers={"traceparent": TRACEPARENT})
    assert job["status"] == "completed"
    stored = await redis_client.get(keyspace.job(job["job_id"]))
    assert TRACE_ID in stored.decode()  # the context travelled in the job record
    run, = [s for s in spans.get_finished_spans() if s.name == "invoke_workflow echo"]
    post, = [s for s in spans.get_finished_spans() if s.name == "POST /v1/jobs"]
    assert run.context.trace_id == post.context.trace_id and run.parent.span_id == post.context.span_id


async def test_metrics_count_runs_steps_and_model_calls(prometheus: None) -> None:
    job, _ = await _submit(build(redis_url=None))
    text = job["metrics"]
    assert 'slm_runs_total{status="completed"} 1.0' in text
    assert 'slm_steps_total{agent="echo",status="completed"} 1.0' in text
    assert ('gen_ai_client_operation_duration_seconds_count{error_type="",gen_ai_operation_name="chat",'
            'gen_ai_provider_name="function",gen_ai_request_model="small"} 1.0') in text
    assert 'gen_ai_token_type="input"' in text


async def test_access_lines_have_method_path_status_latency_and_no_keys() -> None:
    with structlog.testing.capture_logs() as lines:
        await _submit(build(redis_url=None), params={"api_key": "sk-secret-123"})
    access = [line for line in lines if line.get("event") == "http.request"]
    post, = [line for line in access if line["method"] == "POST"]
    assert post["path"] == "/v1/jobs" and post["status"] == 202 and post["latency_ms"] >= 0
    assert "sk-secret-123" not in repr(access) and "hi" not in {str(v) for line in access for v in line.values()}


async def test_the_timeline_route_serves_a_finished_jobs_bars() -> None:
    app = create_app(build(redis_url=None))
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hi"}})).json()["job_id"]
        await wait_finished(client, job_id)
        line = (await client.get(f"/v1/jobs/{job_id}/timeline")).json()
        assert [s["step_id"] for s in line["steps"]] == ["shout"] and line["steps"][0]["model"] == "function:small"
        missing = await client.get("/v1/jobs/nope/timeline")
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
        assert "drawTimeline" in (await client.get("/web/timeline.js")).text


async def test_a_chat_threads_runs_carry_its_conversation_id(spans: InMemorySpanExporter, keyspace: KeySpace) -> None:
    app = create_app(build(redis_url=REDIS_URL, key_prefix=keyspace.prefix), workers=1)
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        accepted = await client.post("/v1/threads/web-0123/messages", json={"message": "hi", "workflow": "echo"})
        await wait_finished(client, accepted.json()["job_id"])
    run, = [s for s in spans.get_finished_spans() if s.name == "invoke_workflow echo"]
    assert dict(run.attributes or {})["gen_ai.conversation.id"] == "web-0123"  # in the worker, via the job
    post, = [s for s in spans.get_finished_spans() if s.name.startswith("POST /v1/threads")]
    assert dict(post.attributes or {})["gen_ai.conversation.id"] == "web-0123"


async def test_an_openai_request_carries_its_x_conversation_id(spans: InMemorySpanExporter) -> None:
    app = create_app(build(redis_url=None))
    chat = {"model": "workflow:echo", "messages": [{"role": "user", "content": "hi"}], "user": "alice"}
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answered = await client.post("/v1/chat/completions", json=chat, headers={"X-Conversation-Id": "conv-42"})
        assert answered.status_code == 200
        anonymous = await client.post("/v1/chat/completions", json=chat)
        assert anonymous.status_code == 200
        refused = await client.post("/v1/chat/completions", json=chat, headers={"X-Conversation-Id": "../etc passwd"})
    assert refused.status_code == 400 and "X-Conversation-Id" in refused.json()["error"]["message"]
    runs = [s for s in spans.get_finished_spans() if s.name == "invoke_workflow echo"]
    assert len(runs) == 2  # the refused request ran nothing
    assert [dict(s.attributes or {}).get("gen_ai.conversation.id") for s in runs] == ["conv-42", None]  # not `user`
    posts = [dict(s.attributes or {}) for s in spans.get_finished_spans() if s.name.startswith("POST")]
    assert [p["http.response.status_code"] for p in posts] == [200, 200, 400]  # refused before routing
    assert [p.get("gen_ai.conversation.id") for p in posts] == ["conv-42", None, None]


async def test_an_openai_requests_conversation_id_reaches_the_worker(spans: InMemorySpanExporter,
                                                                     keyspace: KeySpace) -> None:
    app = create_app(build(redis_url=REDIS_URL, key_prefix=keyspace.prefix), workers=1)
    chat = {"model": "workflow:echo", "messages": [{"role": "user", "content": "hi"}]}
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answered = await client.post("/v1/chat/completions", json=chat, headers={"X-Conversation-Id": "conv:7"})
    assert answered.status_code == 200
    run, = [s for s in spans.get_finished_spans() if s.name == "invoke_workflow echo"]
    assert dict(run.attributes or {})["gen_ai.conversation.id"] == "conv:7"  # via the queued job's baggage
