"""The agents package's public API and how the planner sees each specialist."""

from __future__ import annotations

from orchestrator import agents
from orchestrator.agents import Classifier, Extractor, Summarizer


def test_public_api() -> None:
    assert sorted(agents.__all__) == ["Classifier", "EmbeddingHead", "Extractor", "Summarizer"]


def test_specialists_describe_themselves_to_the_planner() -> None:
    for cls, name, mention in ((Classifier, "classifier", "labels"), (Extractor, "extractor", "fields"),
                               (Summarizer, "summarizer", "max_words")):
        info = cls.info()
        assert info.name == name and info.kind == "specialist"
        assert mention in info.description
        assert "text" in info.input_schema["properties"]
        assert all("description" in p for p in info.output_schema["properties"].values())
