"""A real Prometheus (Debian's ``prometheus``) scrapes ``orchestrator serve`` and ``orchestrator
worker --metrics-port``; the values come back through Prometheus' HTTP API."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.keys import KeySpace
from tests.telemetry.processes import app_env, free_port, running, serve, worker

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus package (scripts/test.sh installs it)")


def _config(path: Path, server: int, worker_port: int) -> Path:
    path.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: server
    static_configs: [{{targets: ["127.0.0.1:{server}"]}}]
  - job_name: worker
    static_configs: [{{targets: ["127.0.0.1:{worker_port}"]}}]
""")
    return path


def _query(prometheus: str, expression: str, want: Any, seconds: float = 40.0) -> list[dict[str, Any]]:
    """The result of ``expression`` once ``want(result)`` holds (Prometheus scrapes every second)."""
    deadline = time.monotonic() + seconds
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": expression}, timeout=5)
        if reply.status_code == 200:
            result = reply.json()["data"]["result"]
            if want(result):
                return result
        time.sleep(0.5)
    raise AssertionError(f"{expression}: {result}")


def _value(result: list[dict[str, Any]]) -> float:
    return sum(float(r["value"][1]) for r in result)


def test_prometheus_scrapes_the_server_and_the_worker(tmp_path: Path, keyspace: KeySpace) -> None:
    assert PROMETHEUS is not None
    server_port, worker_port, prometheus_port = free_port(), free_port(), free_port()
    env = app_env(keyspace)
    config = _config(tmp_path / "prometheus.yml", server_port, worker_port)
    prometheus_cmd = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                      f"--web.listen-address=127.0.0.1:{prometheus_port}"]
    with (running(serve(server_port), server_port, env), running(worker(worker_port), worker_port, env),
          running(prometheus_cmd, prometheus_port)):
        base = f"http://127.0.0.1:{server_port}"
        for text in ("one", "two"):
            job_id = httpx.post(f"{base}/v1/jobs", json={"target": "echo", "inputs": {"text": text}}).json()["job_id"]
            deadline = time.monotonic() + 20
            while httpx.get(f"{base}/v1/jobs/{job_id}").json()["status"] != "completed":
                assert time.monotonic() < deadline, "the worker did not finish the job"
                time.sleep(0.05)
        prometheus = f"http://127.0.0.1:{prometheus_port}"
        assert _value(_query(prometheus, 'up{job=~"server|worker"}', lambda r: _value(r) == 2)) == 2
        runs = _query(prometheus, 'slm_runs_total{job="worker",status="completed"}', lambda r: _value(r) == 2)
        assert _value(runs) == 2
        assert _value(_query(prometheus, 'slm_jobs_total{job="worker",status="completed"}',
                             lambda r: _value(r) == 2)) == 2
        calls = _query(prometheus, 'gen_ai_client_operation_duration_seconds_count{job="worker"}',
                       lambda r: _value(r) == 2)
        assert calls[0]["metric"]["gen_ai_request_model"] == "small"
        assert _query(prometheus, 'slm_queue_depth{job="server"}', lambda r: len(r) == 1)[0]["value"][1] == "0"
        assert _query(prometheus, 'slm_jobs_in_flight{job="worker"}', lambda r: len(r) == 1)[0]["value"][1] == "0"
        assert _query(prometheus, 'slm_queue_depth{job="worker"}', lambda r: len(r) == 1)[0]["value"][1] == "0"
        posts = _query(prometheus, 'slm_http_requests_total{job="server",method="POST",route="/v1/jobs"}',
                       lambda r: _value(r) == 2)
        assert _value(posts) == 2 and posts[0]["metric"]["status"] == "202"
