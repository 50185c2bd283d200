"""A test deployment for the interfaces: echo and sleep agents, scripted models, a planner.

``build()`` is the ``--app tests.interfaces.app:build`` factory of the CLI tests; environment
variables choose Redis (``ORCH_TEST_REDIS_URL``, ``ORCH_TEST_KEY_PREFIX``), API keys
(``ORCH_TEST_API_KEYS``), the planner (``ORCH_TEST_NO_PLANNER=1`` removes it) and the delay
of the slow workflow (``ORCH_TEST_DELAY``); ``ORCH_TEST_LEARNING_DIR`` turns learning on.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.engine.registry import Registry
from orchestrator.models import FunctionModel, ModelCall, ModelSpec
from orchestrator.settings import Settings
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import Echo, Sleep

MODELS = {
    "small": ModelSpec(ref="function:small", local=True),
    "cloud": ModelSpec(ref="function:cloud", local=False, price_input=0.5, price_output=1.5),
    "planner": ModelSpec(ref="function:planner", local=False, price_input=5.0, price_output=15.0),
}


def shout(call: ModelCall) -> dict[str, Any]:
    """The echo specialist's model: upper-cases the text."""
    return {"text": call.last_user.upper(), "confidence": 0.99}


def plan_task(call: ModelCall) -> dict[str, Any]:
    """The planner: one echo step over the task, noting how many history turns it was given."""
    task = re.search(r"Task: (.*?)\n\nRun inputs:", call.last_user, re.DOTALL)
    inputs = json.loads(call.last_user.split("Run inputs:\n", 1)[1])
    turns = next((i.get("items", 0) for i in inputs if i["name"] == "history"), 0)
    text = (task.group(1) if task else "?") + (f" (after {turns} turns)" if turns else "")
    return {"goal": "answer the message", "steps": [{"id": "reply", "agent": "echo", "inputs": {"text": text}}],
            "output": {"reply": "$steps.reply.text"}}


def workflows(delay: float) -> list[Workflow]:
    echo = Workflow("echo", "Upper-case a text.", inputs={"text": Input(str, "The text.")})
    shouted = echo.step("shout", "echo", text=echo.input.text)
    echo.output(text=shouted.text)

    slow = Workflow("slow_echo", "Wait, then upper-case a text.", inputs={"text": Input(str, "The text.")})
    waited = slow.step("wait", "sleep", params={"delay": delay}, value=slow.input.text)
    loud = slow.step("shout", "echo", text=waited.value)
    slow.output(text=loud.text)
    return [echo, slow]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "models": MODELS, "default_cascade": ["small"], "planner": {"model": "planner", "replan": False},
        "default_sensitivity": "public", "redis_url": os.environ.get("ORCH_TEST_REDIS_URL") or None,
        "key_prefix": os.environ.get("ORCH_TEST_KEY_PREFIX", "orch-test"),
        "http": {"api_keys": [k for k in os.environ.get("ORCH_TEST_API_KEYS", "").split(",") if k]},
    }
    if os.environ.get("ORCH_TEST_NO_PLANNER"):
        values["planner"] = {"model": None}
    if os.environ.get("ORCH_TEST_LEARNING_DIR"):  # trace steps and take feedback; versions there
        values["learning"] = {"enabled": True, "versions_dir": os.environ["ORCH_TEST_LEARNING_DIR"]}
    values.update(overrides)
    return Settings(**values)


def build(**overrides: Any) -> Orchestrator:
    """The test orchestrator; keyword arguments override settings."""
    registry = Registry()
    registry.add(Echo())
    registry.add(Sleep())
    for workflow in workflows(float(os.environ.get("ORCH_TEST_DELAY", "0.6"))):
        registry.add_workflow(workflow)
    clients = {"small": FunctionModel(shout, ref="function:small"),
               "cloud": FunctionModel(shout, ref="function:cloud", local=False),
               "planner": FunctionModel(plan_task, ref="function:planner", local=False)}
    return Orchestrator(settings(**overrides), registry=registry, models=clients)
