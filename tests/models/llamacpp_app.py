"""A worker app on an in-process llama.cpp model: the echo specialist on Gemma 3 270M.

``make_orchestrator`` is the ``--app`` factory of ``orchestrator worker`` processes. Its
registry holds two workflows: ``gemma`` (one echo step whose only model is
``llamacpp:gemma3-270m``) and ``pause`` (one tool step, no model), so a test can show that a
worker whose llama.cpp build cannot run fails the first kind of job and still runs the second.
"""

from __future__ import annotations

from orchestrator.engine.app import Orchestrator
from orchestrator.models import ModelSpec
from orchestrator.settings import Settings
from orchestrator.specialist import SpecialistConfig
from orchestrator.workflow import Input, Workflow
from tests.engine.agents import Echo, make_registry


def make_orchestrator(settings: Settings) -> Orchestrator:
    """The ``--app`` factory (``tests.models.llamacpp_app:make_orchestrator``)."""
    registry, _ = make_registry(Echo(SpecialistConfig(cascade=["gemma"])))
    gemma = Workflow("gemma", "echo on Gemma", inputs={"text": Input(str)})
    gemma.output(text=gemma.step("echo", "echo", text=gemma.input.text).text)
    registry.add_workflow(gemma)
    pause = Workflow("pause", "a tool step, no model", inputs={"value": Input(int)})
    pause.output(value=pause.step("wait", "sleep", value=pause.input.value).value)
    registry.add_workflow(pause)
    return Orchestrator(Settings(models={"gemma": ModelSpec(ref="llamacpp:gemma3-270m")},
                                 redis_url=settings.redis_url, key_prefix=settings.key_prefix,
                                 queue=settings.queue.model_dump()), registry=registry)
