"""``orch.run(wf)`` with a Workflow object, and the README's runnable example (examples/workflow_in_code.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orchestrator import FunctionModel, Input, Orchestrator, Settings, Workflow
from orchestrator.errors import InputError, UserError
from orchestrator.models import ModelCall

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "workflow_in_code.py"


def small_model(call: ModelCall) -> Any:
    props = (call.schema or {}).get("properties", {})
    if "label" in props:
        return {"label": "billing" if "charged" in call.last_user else props["label"]["enum"][-1]}
    return "A double charge to refund."  # the summarizer generates plain text


def orchestrator() -> Orchestrator:
    settings = Settings(models={"small": {"ref": "function:small"}}, default_cascade=["small"],
                        specialists={"classifier": {"cascade": ["small"], "options": {"mode": "generative"}},
                                     "summarizer": {"cascade": ["small"], "options": {"extractive": False}}})
    return Orchestrator(settings, models={"small": FunctionModel(small_model, ref="function:small")})


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("workflow_in_code", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("workflow_in_code", None)
    spec.loader.exec_module(module)
    return module


def shout() -> Workflow:
    wf = Workflow("shout_once", "Classify a text.", inputs={"text": Input(str, "The text.")})
    step = wf.step("kind", "classifier", text=wf.input.text, params={"labels": ["billing", "bug"]})
    wf.output(label=step.label)
    return wf


async def test_a_workflow_object_runs_without_being_registered() -> None:
    orch = orchestrator()
    wf = shout()
    async with orch:
        result = await orch.run(wf, {"text": "charged twice"})
        assert result.status == "completed", result.error
        assert result.answer == {"label": "billing"}
        assert "shout_once" not in orch.registry.workflow_names  # run as it is, nothing registered
        events = [e.type async for e in orch.stream(wf, {"text": "a crash"})]
        assert events[-1] == "run.finished"


async def test_a_workflow_object_checks_its_inputs_and_cannot_be_queued() -> None:
    async with orchestrator() as orch:
        with pytest.raises(InputError, match="has no input 'txt'"):
            await orch.run(shout(), {"txt": "x"})
        with pytest.raises(UserError, match=r"cannot be queued.*submit 'shout_once'"):
            await orch.submit(shout(), {"text": "x"})  # type: ignore[arg-type]


async def test_the_readme_workflow_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    result = await example.main(orchestrator())
    assert result.status == "completed", result.error
    assert result.answer == {"category": "billing", "summary": "A double charge to refund."}
    out = capsys.readouterr().out
    assert "'category': 'billing'" in out and "kind: completed on function:small" in out
