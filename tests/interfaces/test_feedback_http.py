"""``POST /v1/runs/{id}/feedback`` over ASGI: a correction becomes an example; bad input is 4xx JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.learning.deployment import CLASSIFY, all_texts, deployment, teacher_for


async def test_feedback_over_http_becomes_a_feedback_example(make_client: Callable[..., Any], tmp_path: Path) -> None:
    text = all_texts()[0]
    orch = deployment(tmp_path, teacher=teacher_for([text]))
    client = await make_client(orchestrator=orch)
    run = await orch.run(CLASSIFY, {"text": text})
    correction = {"step_id": "c", "output": {"label": "shipping"}}
    response = await client.post(f"/v1/runs/{run.run_id}/feedback", json=correction)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["specialist"] == "classifier" and body["run_id"] == run.run_id and body["step_id"] == "c"
    [kept] = await orch.learning.store.examples("classifier")
    assert kept.id == body["example_id"] and kept.source == "feedback" and kept.output == {"label": "shipping"}


async def test_bad_feedback_is_4xx_json(make_client: Callable[..., Any], tmp_path: Path) -> None:
    text = all_texts()[0]
    orch = deployment(tmp_path, teacher=teacher_for([text]))
    client = await make_client(orchestrator=orch)
    run = await orch.run(CLASSIFY, {"text": text})
    cases = [
        ({"step_id": "nope", "output": {"label": "x"}}, 422, "no trace of step 'nope'"),
        ({"step_id": "c", "output": {}}, 422, "non-empty JSON object"),
        ({"step_id": "c", "output": "billing"}, 422, "output"),
        ({"output": {"label": "x"}}, 422, "step_id"),
    ]
    for body, status, words in cases:
        response = await client.post(f"/v1/runs/{run.run_id}/feedback", json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"]["message"], response.json()
    off = await make_client(orchestrator=deployment(tmp_path, enabled=False))
    response = await off.post(f"/v1/runs/{run.run_id}/feedback", json={"step_id": "c", "output": {"label": "x"}})
    assert response.status_code == 400 and "[learning] enabled" in response.json()["error"]["message"]
