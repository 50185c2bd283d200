"""Installed beside the OpenAI Agents SDK (``openai-agents``, whose top-level package is ``agents``).

Both import in one environment and one process: ``agents`` is the SDK's, ``orchestrator.agents``
is ours, and the CLI still finds our specialists through their entry points.
"""

from __future__ import annotations

import json

import pytest

from tests.install.venvs import INSTALL_TIMEOUT, Venv, checked, python_code

pytestmark = [pytest.mark.install, pytest.mark.timeout(INSTALL_TIMEOUT)]


def test_both_import_in_one_process(beside_agents_sdk: Venv) -> None:
    code = """
import json
import agents
import orchestrator.agents
from orchestrator.agents import Classifier
sdk = agents.Agent(name="helper", instructions="Answer briefly.")
print(json.dumps({"sdk": agents.__file__, "ours": orchestrator.agents.__file__, "agent": sdk.name,
                  "runner": hasattr(agents, "Runner"), "classifier": Classifier.name}))
"""
    report = json.loads(checked(python_code(beside_agents_sdk, code)))
    site = next((beside_agents_sdk.root / "lib").glob("python3*/site-packages"))
    assert report["sdk"] == str(site / "agents" / "__init__.py")
    assert report["ours"] == str(site / "orchestrator" / "agents" / "__init__.py")
    assert (report["agent"], report["runner"], report["classifier"]) == ("helper", True, "classifier")


def test_the_cli_lists_our_specialists(beside_agents_sdk: Venv) -> None:
    catalog = json.loads(checked(beside_agents_sdk.run("orchestrator", "agents", "--json")))
    kinds = {entry["name"]: entry["kind"] for entry in catalog}
    assert {kinds[name] for name in ("classifier", "extractor", "summarizer")} == {"specialist"}
    assert kinds["route_ticket"] == "tool"
