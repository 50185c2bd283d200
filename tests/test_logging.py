"""Logs of a run: every line bound to its run (and step), and no document text in any of them."""

from __future__ import annotations

import json
from typing import Any

import structlog

from orchestrator import FunctionModel, Orchestrator, Settings
from orchestrator.models import ModelCall

SECRET = "Zanzibar-7731-Quokka"
TICKET = f"""Subject: charged twice

I was charged twice for order {SECRET}. Please refund me today.

Ada Moreno
ada.moreno@example.net"""


def answer(call: ModelCall) -> Any:
    props = (call.schema or {}).get("properties", {})
    if "label" in props:
        return {"label": props["label"]["enum"][0]}
    if "customer_name" in props:
        return {"customer_name": "Ada Moreno", "email": None, "order_number": SECRET, "product": None}
    return {"summary": f"Ada was charged twice for order {SECRET}."}


async def test_run_logs_carry_run_and_step_ids_and_never_the_document() -> None:
    settings = Settings(models={"small": {"ref": "python:x:y"}}, default_cascade=["small"])
    orch = Orchestrator(settings, models={"small": FunctionModel(answer)})
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        result = await orch.run("ticket_triage", {"ticket": TICKET})
    assert result.ok, result.error
    assert result.answer["fields"]["order_number"] == SECRET  # the secret went through the run ...
    run_logs = [entry for entry in logs if entry.get("run_id") == result.run_id]
    assert run_logs and all("run_id" in entry for entry in logs)
    step_logs = [entry for entry in run_logs if str(entry["event"]).startswith("step.")]
    assert {entry["step_id"] for entry in step_logs} >= {"category", "urgency", "fields", "summary", "routing"}
    assert SECRET not in json.dumps(logs, default=str)  # ... and none of its text reached a log line


def test_bound_values_are_restored_as_they_were_when_the_block_ends() -> None:
    from orchestrator.logging import bound

    structlog.contextvars.clear_contextvars()
    with bound(run_id="outer"):
        with bound(run_id="inner", step_id="s"):
            assert structlog.contextvars.get_contextvars() == {"run_id": "inner", "step_id": "s"}
        assert structlog.contextvars.get_contextvars() == {"run_id": "outer"}
    assert structlog.contextvars.get_contextvars() == {}
