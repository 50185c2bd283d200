"""The built-in specialists: classifier, extractor, summarizer.

The engine finds them through the ``orchestrator.specialists`` entry points;
import them from here to configure or test them directly.
"""

from orchestrator.agents._head import EmbeddingHead
from orchestrator.agents.classifier import Classifier
from orchestrator.agents.extractor import Extractor
from orchestrator.agents.summarizer import Summarizer

__all__ = ["Classifier", "EmbeddingHead", "Extractor", "Summarizer"]
