"""The built-in specialists: classifier, extractor, summarizer.

The engine finds them through the ``orchestrator.specialists`` entry points;
import them from here to configure or test them directly.
"""

from agents._head import EmbeddingHead
from agents.classifier import Classifier
from agents.extractor import Extractor
from agents.summarizer import Summarizer

__all__ = ["Classifier", "EmbeddingHead", "Extractor", "Summarizer"]
