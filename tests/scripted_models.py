"""Model factories for subprocess tests: ``ref = "python:tests.scripted_models:triage"``."""

from __future__ import annotations

from orchestrator.models import FunctionModel, ModelCall, ModelSpec, ScriptedModel
from tests.workflows.test_workflows_e2e import scripted


def triage(spec: ModelSpec) -> FunctionModel:
    """Answers the shipped workflows' prompts like a careful small model."""
    return FunctionModel(scripted, ref=spec.ref)


def bad_planner(spec: ModelSpec) -> ScriptedModel:
    """A planner that only ever proposes an unregistered agent."""
    plan = {"goal": "g", "steps": [{"id": "x", "agent": "delete_everything", "inputs": {}}]}
    return ScriptedModel([plan] * 5, ref=spec.ref, local=False)


def slow_loading(spec: ModelSpec) -> FunctionModel:
    """Loads its "weights" (a short sleep in a thread, as llama.cpp loads) on its first call."""
    import asyncio
    import threading
    import time

    from orchestrator.models.loading import report_load, report_load_start

    lock, loaded = threading.Lock(), []

    def load() -> float:  # the first caller loads; concurrent ones wait for it, as llama.cpp's do
        started = time.perf_counter()
        with lock:
            if loaded:
                return 0.0 if started > loaded[0] else time.perf_counter() - started
            report_load_start(spec.ref)
            time.sleep(0.3)
            loaded.append(time.perf_counter())
        return time.perf_counter() - started

    async def answer(call: ModelCall) -> str:
        if seconds := await asyncio.to_thread(load):
            report_load(spec.ref, seconds)
        return "OK"

    return FunctionModel(answer, ref=spec.ref)


def embedder(spec: ModelSpec) -> ScriptedModel:
    """A local model that only embeds (bag-of-words hashes), as a classifier head's encoder."""
    from orchestrator.models.base import Capabilities

    return ScriptedModel(ref=spec.ref, capabilities=Capabilities(structured_output="none", embeddings=True))
