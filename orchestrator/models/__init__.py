"""Model clients: the interface, the scripted test models, and the backend factory."""

from orchestrator.models.base import (
    Capabilities,
    Completion,
    Message,
    Model,
    ScoringModel,
    Usage,
    assistant,
    scoring_model,
    system,
    user,
)
from orchestrator.models.check import ModelCheck, check_models
from orchestrator.models.scripted import FunctionModel, ModelCall, ScoreCall, ScriptedModel
from orchestrator.models.spec import ModelSpec, create_model

__all__ = [
    "Capabilities",
    "Completion",
    "FunctionModel",
    "Message",
    "Model",
    "ModelCall",
    "ModelCheck",
    "ModelSpec",
    "ScoreCall",
    "ScoringModel",
    "ScriptedModel",
    "Usage",
    "assistant",
    "check_models",
    "create_model",
    "scoring_model",
    "system",
    "user",
]
