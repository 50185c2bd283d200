"""Hostile input gets a clear 4xx with a JSON body (or a CLI error), never a 500 or a broken stream.

Lone surrogates, NUL characters, NaN and deep nesting in job inputs and chat content; malformed
event cursors; the same values on the CLI (``--input``) and through the Python API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.errors import InputError
from tests.interfaces.app import build
from tests.interfaces.conftest import wait_finished

Make = Callable[..., Any]
ROOT = Path(__file__).resolve().parents[2]
JSON = {"content-type": "application/json"}


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def job(inputs: str) -> bytes:
    return ('{"target": "echo", "inputs": {"text": ' + inputs + "}}").encode()


def chat(content: str) -> bytes:
    return ('{"model": "orchestrator", "messages": [{"role": "user", "content": ' + content + "}]}").encode()


BODIES = {
    "lone surrogate in job inputs": ("/v1/jobs", job('"a\\ud800b"'), "lone surrogate"),
    "lone surrogate in a task": ("/v1/jobs", b'{"target": "say \\udc00 hi"}', "lone surrogate"),
    "NUL in job inputs": ("/v1/jobs", job('"a\\u0000b"'), "NUL character"),
    "NaN in job inputs": ("/v1/jobs", job("NaN"), "not a JSON number"),
    "Infinity in job inputs": ("/v1/jobs", job("[1, -Infinity]"), "not a JSON number"),
    "depth 900 in job inputs": ("/v1/jobs", job(deep(900)), "nested deeper than 64"),
    "depth 3000 in job inputs": ("/v1/jobs", job(deep(3000)), "deeper than the 64 levels"),
    "lone surrogate in chat content": ("/v1/chat/completions", chat('"hi \\ud83d"'), "lone surrogate"),
    "NUL in chat content": ("/v1/chat/completions", chat('"echo: a\\u0000"'), "NUL character"),
    "lone surrogate in a thread message": ("/v1/threads/t1/messages", b'{"message": "\\ud800"}', "lone surrogate"),
}


@pytest.mark.parametrize("case", list(BODIES), ids=list(BODIES))
async def test_bad_payloads_get_a_422_with_a_json_body(case: str, client: httpx.AsyncClient) -> None:
    path, body, problem = BODIES[case]
    response = await client.post(path, content=body, headers=JSON)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and problem in error["message"], error


@pytest.mark.parametrize(("name", "value"), [
    ("after", "garbage"), ("after", "1-2-3"), ("after", "99999999999999999999-0"), ("last-event-id", "zzz")])
async def test_malformed_event_cursors_are_a_422_before_the_stream(name: str, value: str,
                                                                    client: httpx.AsyncClient) -> None:
    accepted = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hi"}})
    job_id = accepted.json()["job_id"]
    await wait_finished(client, job_id)
    params, headers = ({"after": value}, {}) if name == "after" else ({}, {"Last-Event-ID": value})
    response = await client.get(f"/v1/jobs/{job_id}/events", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "invalid_cursor"


async def test_a_valid_cursor_resumes_the_stream(client: httpx.AsyncClient) -> None:
    accepted = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hi"}})
    job_id = accepted.json()["job_id"]
    await wait_finished(client, job_id)
    whole = (await client.get(f"/v1/jobs/{job_id}/events")).text
    ids = [line.split(": ", 1)[1] for line in whole.splitlines() if line.startswith("id: ")]
    resumed = await client.get(f"/v1/jobs/{job_id}/events", params={"after": ids[0]})
    assert resumed.status_code == 200
    assert [line.split(": ", 1)[1] for line in resumed.text.splitlines() if line.startswith("id: ")] == ids[1:]


async def test_python_api_refuses_bad_payloads() -> None:
    nested: Any = []
    for _ in range(900):
        nested = [nested]
    async with build(redis_url=None) as orch:
        for inputs in ({"text": nested}, {"text": float("nan")}, {"text": "a\x00"}, {"text": "\ud800"}):
            with pytest.raises(InputError, match=r"^inputs"):
                await orch.run("echo", inputs)
        with pytest.raises(InputError, match=r"^task: contains a lone surrogate"):
            await orch.run("say \ud800 hi")
    async with build(redis_url="redis://127.0.0.1:6379/0") as orch:  # refused before anything is queued
        with pytest.raises(InputError, match="nested deeper"):
            await orch.submit("echo", {"text": nested})


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "orchestrator", "run", "echo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_inputs_get_one_error_line(tmp_path: Path) -> None:
    deep_file = tmp_path / "deep.json"
    deep_file.write_text(deep(3000))
    nul_file = tmp_path / "nul.txt"
    nul_file.write_text("a\x00b")
    for item, problem in [(f"x:={deep(3000)}", "--input x: nested deeper than 64"),
                          (f"x=@{deep_file}", "deep.json': nested deeper than 64"),
                          ("x:=NaN", "--input x: NaN is not a JSON number"),
                          (f"x=@{nul_file}", "--input x: contains a NUL character")]:
        proc = cli("--input", item)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr, proc.stderr[-500:]
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and problem in errors[0], proc.stderr[-500:]
