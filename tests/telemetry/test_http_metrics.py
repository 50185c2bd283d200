"""The server's HTTP request metrics: count and duration by method, route template and status."""

from __future__ import annotations

import httpx

from orchestrator.interfaces.http import create_app
from orchestrator.telemetry import metrics
from tests.interfaces.app import build
from tests.interfaces.conftest import lifespan, wait_finished


async def test_requests_are_counted_by_route_template_never_by_raw_path(prometheus: None) -> None:
    app = create_app(build(redis_url=None))
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        job_id = (await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hi"}})).json()["job_id"]
        await wait_finished(client, job_id)
        polls = metrics.metric("slm_http_requests_total",
                               {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"})
        assert (await client.get("/v1/jobs/no-such-job")).status_code == 404
        assert (await client.get("/no/such/page/42")).status_code == 404
        assert (await client.request("BREW", "/v1/jobs")).status_code == 405
        text = (await client.get("/metrics")).text
    assert polls is not None and polls >= 1  # wait_finished polled the job at least once
    assert metrics.metric("slm_http_requests_total", {"method": "POST", "route": "/v1/jobs", "status": "202"}) == 1
    assert metrics.metric("slm_http_requests_total",
                          {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "404"}) == 1
    assert metrics.metric("slm_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}) == 1
    assert metrics.metric("slm_http_requests_total", {"method": "other", "route": "/v1/jobs", "status": "405"}) == 1
    assert metrics.metric("slm_http_request_duration_seconds_count",
                          {"method": "POST", "route": "/v1/jobs", "status": "202"}) == 1
    assert 'slm_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/jobs",status="202"} 1.0' in text
    assert job_id not in text and "no-such-job" not in text and "/no/such/page" not in text  # bounded labels


async def test_no_request_metrics_when_metrics_are_off() -> None:
    metrics.disable_metrics()
    metrics.http_request("GET", "/v1/jobs", 200, 0.1)  # a no-op, not an error
    assert metrics.metric("slm_http_requests_total", {"method": "GET", "route": "/v1/jobs", "status": "200"}) is None
