"""``pip install slm-orchestrator`` without extras (an Ollama- or OpenAI-only user): it all works.

No numpy, sentence-transformers, scikit-learn, torch or llama.cpp in the venv, and none is
imported by any module; the CLI lists agents and workflows, shows the Ollama profile and runs
ticket_triage on the Ollama profile twice: with its models scripted through ``python:``
references, and through the real Ollama and OpenAI clients against a scripted server on
127.0.0.1. A step, a model or a head that needs the ``embeddings`` extra fails saying so.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.install.plain_models import wire_reply, wire_stream
from tests.install.venvs import INSTALL_TIMEOUT, OPTIONAL, ROOT, Venv, checked, python_code
from tests.models import fake_server

pytestmark = [pytest.mark.install, pytest.mark.timeout(INSTALL_TIMEOUT)]

EMBEDDINGS_HINT = "pip install 'slm-orchestrator[embeddings]'"
TICKET = ROOT / "examples" / "tickets" / "refund_request.txt"


def test_the_venv_has_no_extra_and_runs_the_installed_copy(plain_venv: Venv) -> None:
    out = checked(python_code(plain_venv, "import importlib.util, json, orchestrator, sys; print(json.dumps("
                          "{'file': orchestrator.__file__, 'found': [m for m in sys.argv[1:] "
                          "if importlib.util.find_spec(m)]}))", args=OPTIONAL))
    report = json.loads(out)
    assert report["found"] == []
    assert Path(report["file"]).is_relative_to(plain_venv.root)


def test_every_module_imports_and_an_orchestrator_builds_without_optional_packages(plain_venv: Venv) -> None:
    """The audit: importing all of the package, loading every plugin and building an Orchestrator on
    each packaged profile imports no optional package (and fails on none)."""
    code = """
import importlib, json, pkgutil, sys
import orchestrator
from orchestrator import Orchestrator, Settings
failed = {}
for info in pkgutil.walk_packages(orchestrator.__path__, "orchestrator."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
built = {}
for profile in ("ollama", "hybrid", "embedded"):
    orch = Orchestrator(Settings.load(profile=profile))
    built[profile] = sorted(a.name for a in orch.registry.catalog())
    orch.registry.workflows()
optional = sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:]))
print(json.dumps({"failed": failed, "built": built, "optional": optional}))
"""
    report = json.loads(checked(python_code(plain_venv, code, args=OPTIONAL)))
    assert report["failed"] == {}
    assert report["optional"] == []
    for names in report["built"].values():
        assert {"classifier", "extractor", "summarizer", "route_ticket"} <= set(names)


def test_help_agents_workflows_and_the_ollama_profile(plain_venv: Venv) -> None:
    assert "usage: orchestrator" in checked(plain_venv.run("orchestrator", "--help"))
    agents = {line.split()[0] for line in checked(plain_venv.run("orchestrator", "agents")).splitlines()}
    assert {"classifier", "extractor", "summarizer", "chunk_text", "redact_pii", "route_ticket"} <= agents
    workflows = json.loads(checked(plain_venv.run("orchestrator", "workflows", "--json")))
    assert {w["name"] for w in workflows} == {"ticket_triage", "invoice_extraction", "document_digest"}
    profile = checked(plain_venv.run("orchestrator", "config", "show", "--profile", "ollama"))
    assert 'ref = "ollama:qwen2.5:0.5b"' in profile and 'ref = "ollama:qwen2.5:7b"' in profile


SCRIPTED = """
profile = "ollama"
[models.small]
ref = "python:plain_models:local"
[models.large]
ref = "python:plain_models:local"
[models.cloud]
ref = "python:plain_models:cloud"
local = false
price_input = 0.15
price_output = 0.6
[specialists.summarizer]
cascade = ["cloud"]
[specialists.classifier]
threshold = 0.6  # no log-probabilities from these models: a generative label gets the default 0.6
"""
"""The Ollama profile with its models scripted, and an OpenAI-style cloud model for summaries."""

OVER_HTTP = """
profile = "ollama"
[models.cloud]
ref = "openai:gpt-4o-mini"
local = false
price_input = 0.15
price_output = 0.6
options = { base_url = "URL/v1", api_key_env = "INSTALL_TEST_OPENAI_KEY" }
[specialists.summarizer]
cascade = ["cloud"]
[specialists.classifier]
threshold = 0.6  # Ollama reports no log-probabilities: a generative label gets the default 0.6
# Under auto, the 0.5B model would classify by embedding similarity, which needs the embeddings extra.
options = { mode = "generative" }
"""
"""The Ollama profile as shipped (its models served at $OLLAMA_HOST), OpenAI's API for summaries."""


def _deployment(venv: Venv, name: str, config: str) -> dict[str, str]:
    """``config`` written to ``<name>.toml`` beside the ticket and the scripted models; the
    environment that points the CLI at them."""
    models = venv.cwd / "models"
    models.mkdir(exist_ok=True)
    shutil.copy(Path(__file__).with_name("plain_models.py"), models / "plain_models.py")
    shutil.copy(TICKET, venv.cwd / "ticket.txt")
    path = venv.cwd / f"{name}.toml"
    path.write_text(config)
    return {"ORCHESTRATOR_CONFIG": str(path), "PYTHONPATH": str(models)}


def _triage(venv: Venv, env: dict[str, str]) -> dict[str, Any]:
    """A ticket_triage run that completed, its answer checked; the steps by id."""
    proc = venv.run("orchestrator", "run", "ticket_triage", "-i", "ticket=@ticket.txt", "--json", **env)
    result = json.loads(checked(proc))
    assert result["status"] == "completed", result.get("error")
    answer = result["answer"]
    assert (answer["category"], answer["urgency"]) == ("refund", "high")
    assert answer["fields"]["email"] == "maria.lindqvist@example.com"
    assert answer["fields"]["order_number"] == "ORD-48213"
    assert answer["routing"]["team"] == "billing_team"
    return {step["step_id"]: step for step in result["steps"]}


def test_a_workflow_runs_on_scripted_models_configured_like_ollama_and_openai(plain_venv: Venv) -> None:
    steps = _triage(plain_venv, _deployment(plain_venv, "scripted", SCRIPTED))
    assert steps["summary"]["model"] == "python:plain_models:cloud" and steps["summary"]["local"] is False
    assert steps["category"]["model"] == "python:plain_models:local"


def _wire(api: str, request: fake_server.Request) -> fake_server.Reply:
    """The scripted answer as the real server sends it: whole, or streamed when the client asks."""
    reply = wire_reply(api, request.body)
    if not request.body.get("stream"):
        return fake_server.Reply(body=reply)
    kind = "text/event-stream" if api == "openai" else "application/x-ndjson"
    return fake_server.Reply(body=wire_stream(api, reply), content_type=kind)


@pytest.mark.allow_model_requests  # to a server of this test on 127.0.0.1, answering from the script
def test_a_workflow_runs_through_the_ollama_and_openai_clients(plain_venv: Venv) -> None:
    server, stop = fake_server.start()
    try:
        server.respond("/api/chat", lambda request: _wire("ollama", request))
        server.respond("/v1/chat/completions", lambda request: _wire("openai", request))
        env = _deployment(plain_venv, "over_http", OVER_HTTP.replace("URL", server.url))
        steps = _triage(plain_venv, {**env, "OLLAMA_HOST": server.url, "INSTALL_TEST_OPENAI_KEY": "sk-test"})
    finally:
        stop()
    assert steps["category"]["model"] == "ollama:qwen2.5:0.5b" and steps["summary"]["model"] == "openai:gpt-4o-mini"
    chats = [r for r in server.requests if r.path == "/api/chat"]
    assert {r.body["model"] for r in chats} == {"qwen2.5:0.5b"} and all(isinstance(r.body["format"], dict)
                                                                          for r in chats)
    [summary] = server.bodies("/v1/chat/completions")
    assert summary["model"] == "gpt-4o-mini"
    assert steps["summary"]["output"]["summary"].startswith("The customer asks when the refund")
    assert {r.headers["authorization"] for r in server.requests if r.path.startswith("/v1/")} == {"Bearer sk-test"}


def test_an_embedding_step_says_which_extra_to_install(plain_venv: Venv) -> None:
    config = SCRIPTED + 'options = { mode = "embedding" }\n'
    proc = plain_venv.run("orchestrator", "run", "ticket_triage", "-i", "ticket=@ticket.txt", "--json",
                          **_deployment(plain_venv, "embedding", config))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    steps = {step["step_id"]: step for step in json.loads(proc.stdout)["steps"]}
    for step_id in ("category", "urgency"):
        assert steps[step_id]["status"] == "failed"
        assert "the classifier's embedding mode needs numpy" in steps[step_id]["error"]
        assert EMBEDDINGS_HINT in steps[step_id]["error"]
    assert steps["fields"]["status"] == steps["summary"]["status"] == "completed"


def test_the_embedding_model_and_a_trained_head_say_which_extra_to_install(plain_venv: Venv) -> None:
    code = """
import asyncio, json
from orchestrator.agents import EmbeddingHead
from orchestrator.errors import MissingDependency
from orchestrator.models import ModelSpec, create_model
problems = []
try:
    asyncio.run(create_model(ModelSpec(ref="st:all-minilm-l6-v2")).embed(["hello"]))
except MissingDependency as exc:
    problems.append([exc.package, exc.extra, str(exc)])
try:
    EmbeddingHead.fit_vectors([[1.0, 0.0], [0.0, 1.0]], ["a", "b"])
except MissingDependency as exc:
    problems.append([exc.package, exc.extra, str(exc)])
print(json.dumps(problems))
"""
    # The st: model checks the model-request guard first; it runs in-process, so nothing is sent.
    problems = json.loads(checked(python_code(plain_venv, code, ORCH_BLOCK_MODEL_REQUESTS="0")))
    assert [(package, extra) for package, extra, _ in problems] == [("sentence_transformers", "embeddings"),
                                                                    ("numpy", "embeddings")]
    assert all(message.endswith(EMBEDDINGS_HINT) for _, _, message in problems)
