"""``POST /v1/jobs`` refuses what ``Orchestrator.submit`` refuses, with the same check
(``Orchestrator.check_submission``) and the same reason, as a 4xx JSON body (issue 20): before,
the route had checks of its own and queued jobs that ``submit`` refuses (a mistyped workflow
name when a planner is configured), which then failed later in a worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from orchestrator.engine.app import Orchestrator
from orchestrator.errors import UserError
from tests.interfaces.app import build

Make = Callable[..., Any]


REFUSED = [
    ({"target": "slow_eco", "inputs": {"text": "x"}}, 400, "unknown_workflow"),  # a typo, not a task
    ({"target": "echo_twice"}, 400, "unknown_workflow"),  # workflow-shaped: never sent to the planner
    ({"target": "   "}, 400, "bad_request"),
    ({"target": "echo", "inputs": {"txt": "a"}}, 422, "invalid_input"),
]


@pytest.mark.parametrize(("body", "status", "kind"), REFUSED)
async def test_the_api_refuses_what_submit_refuses_with_its_reason(
    make_client: Make, body: dict[str, Any], status: int, kind: str
) -> None:
    orchestrator: Orchestrator = build(redis_url=None)  # with a planner: free-form tasks are fine
    client = await make_client(orchestrator=orchestrator)
    queued: list[str] = []
    submit = orchestrator.jobs.submit

    async def recorded(target: str, *args: Any, **kwargs: Any) -> str:
        queued.append(target)
        return await submit(target, *args, **kwargs)

    orchestrator.jobs.submit = recorded  # type: ignore[method-assign]
    with pytest.raises(UserError) as refused:
        await orchestrator.submit(body["target"], body.get("inputs"))
    response = await client.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["message"]) == (kind, str(refused.value))
    assert queued == []  # nothing reached the backend


async def test_what_submit_accepts_the_api_queues(make_client: Make) -> None:
    client: httpx.AsyncClient = await make_client()
    response = await client.post("/v1/jobs", json={"target": "echo", "inputs": {"text": "hi"}})
    assert response.status_code == 202 and response.json()["status"] in ("queued", "running", "completed")
