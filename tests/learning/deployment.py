"""A deployment that learns: a local embedding model with a head, a remote teacher that answers labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.engine.app import Orchestrator
from orchestrator.models import ModelSpec, ScriptedModel
from orchestrator.models.base import Capabilities
from orchestrator.plan import Plan
from orchestrator.settings import Settings

EMBED_ONLY = Capabilities(structured_output="none", embeddings=True)
LABELS = ["billing", "shipping"]
TEXTS = {
    "billing": ["invoice charged twice payment", "refund my payment invoice", "card charge on invoice wrong",
                "billing payment failed invoice"],
    "shipping": ["parcel delivery late package", "package not delivered parcel", "track my parcel delivery",
                 "delivery address for package"],
}
CLASSIFY = Plan.parse({"goal": "classify", "steps": [
    {"id": "c", "agent": "classifier", "inputs": {"text": "$input.text"}, "params": {"labels": LABELS}}]})


def deployment(tmp_path: Path, *, teacher: list[Any] | None = None, price: float = 0.0, redis_url: str | None = None,
               key_prefix: str = "orch", big: Any = None, **learning: Any) -> Orchestrator:
    """Classifier cascade: ``small`` (local, embeds, head at tmp/head.json) then ``big`` (remote teacher,
    ``price`` USD per million tokens in and out; ``big`` replaces the scripted one). With ``redis_url``
    the examples live in Redis."""
    settings = Settings(
        models={"small": ModelSpec(ref="scripted:small", local=True),
                "big": ModelSpec(ref="scripted:big", local=False, price_input=price, price_output=price)},
        specialists={"classifier": {"cascade": ["small", "big"], "threshold": 0.55,
                                    "options": {"head_path": str(tmp_path / "head.json"), "default_confidence": 1.0}}},
        learning={"enabled": True, "versions_dir": str(tmp_path / "versions"), **learning},
        planner={"model": "big"},
        **({"redis_url": redis_url, "key_prefix": key_prefix} if redis_url else {}),
    )
    models = {"small": ScriptedModel(ref="scripted:small", capabilities=EMBED_ONLY),
              "big": big or ScriptedModel(teacher or [], ref="scripted:big", local=False)}
    return Orchestrator(settings, models=models)


def gold(text: str) -> str:
    """The right label of one of :data:`TEXTS`."""
    return next(label for label, some in TEXTS.items() if text in some)


def teacher_for(texts: list[str]) -> list[dict[str, str]]:
    """The teacher's (correct) answers to ``texts``, in order."""
    return [{"label": next(label for label, some in TEXTS.items() if text in some)} for text in texts]


def all_texts() -> list[str]:
    return [text for some in TEXTS.values() for text in some]
