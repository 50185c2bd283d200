"""The classifier specialist: one label from a fixed set, with an honest confidence.

Three strategies, picked per model (``Options.mode``):

- **generative**: the model answers JSON whose ``label`` is an ``enum`` of the labels;
  confidence from token log-probabilities, or from the backend's log-likelihood
  scoring (a softmax over the labels), else a fixed moderate value.
- **embedding**: zero-shot; cosine between the text and each label's name and
  description (plus any examples), softmax with a temperature. With
  ``Options.match = "sentences"`` (the default) each sentence of the text is
  also compared with each phrase of the description and a label scores its best
  pair, so one telling sentence ("production is down") finds its label even in a
  long ticket. Write descriptions as typical phrases a text with that label
  contains: ``"Cannot sign in: locked out of my account, password reset fails"``.
- **head**: a logistic-regression :class:`~orchestrator.agents._head.EmbeddingHead` trained on
  labelled examples, loaded from ``Options.head_path``.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from orchestrator._optional import lazy_module
from orchestrator.agents._grounding import choose, is_heading, softmax, split_sentences, word_count
from orchestrator.agents._head import EmbeddingHead
from orchestrator.agents._learner import HeadLearner
from orchestrator.errors import ConfigError, InputError
from orchestrator.logging import get_logger
from orchestrator.models.base import Capabilities, Completion, Message, Model, system, user
from orchestrator.models.json_answer import json_answer
from orchestrator.specialist import Specialist, Verdict

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_module("numpy", extra="embeddings", needed_for="the classifier's embedding mode")

log = get_logger(__name__)

Mode = Literal["auto", "generative", "embedding", "head"]


class Label(BaseModel):
    """A label and what it means."""

    name: str = Field(min_length=1, description="The label exactly as it should be answered.")
    description: str = Field(default="", description="What texts with this label are about.")


class Example(BaseModel):
    """A labelled example shown to the model (few-shot) or averaged into the label (embedding mode)."""

    text: str = Field(description="An example text.")
    label: str = Field(description="Its label; must be one of the labels.")


class ClassifierInput(BaseModel):
    """What to classify and into which labels."""

    text: str = Field(description="The text to classify.")
    labels: list[Label] = Field(
        default_factory=list,
        description="The allowed labels: names, or {name, description} objects. "
        "May be empty only when a trained head supplies them.",
    )
    examples: list[Example] = Field(default_factory=list, description="Optional labelled examples (few-shot).")

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClassifierInput:
        names = [label.name for label in self.labels]
        if len(set(names)) != len(names):
            raise ValueError("labels must be unique")
        unknown = {ex.label for ex in self.examples} - set(names)
        if names and unknown:
            raise ValueError(f"examples use labels that are not in labels: {sorted(unknown)}")
        return self

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]


class ClassifierOutput(BaseModel):
    """The chosen label."""

    label: str = Field(description="One of the given labels.")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the classifier is, in [0, 1].")
    scores: dict[str, float] | None = Field(default=None, description="Probability per label, where known.")


class ClassifierOptions(BaseModel):
    """Deployment options of the classifier."""

    mode: Mode = "auto"
    """auto: head if ``head_path`` (on local models and on models that only embed: a remote
    generative model in the cascade answers itself, as the head's teacher); embedding on
    embed-only models and on models that embed but are smaller than ``min_generative_b``;
    generative otherwise."""
    head_path: str | None = None
    """A head saved by :meth:`EmbeddingHead.save` (JSON)."""
    head_regularization: float = Field(default=3.0, gt=0)
    """Distillation fits the head's logistic regression at ``C = 10 x`` this."""
    head_knn_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    """Share of the distilled head's probabilities from its nearest-neighbour vote."""
    head_knn_temperature: float = Field(default=0.05, gt=0)
    """Softmax temperature of that vote. ``head_regularization = 1``, ``head_knn_weight = 0.75``,
    ``head_knn_temperature = 0.1`` escalated the most out-of-scope CLINC150 queries (chosen on
    validation data in ``bench/flywheel.py``)."""
    temperature: float = Field(default=0.05, gt=0)
    """Softmax temperature over cosine similarities in embedding mode (lower is sharper)."""
    match: Literal["text", "sentences"] = "sentences"
    """Embedding mode: "text" compares the whole text with each label's name and description;
    "sentences" also compares each sentence of the text with each phrase of the description (its
    comma- or semicolon-separated parts after the first colon) and scores a label by its best pair."""
    confidence: Literal["top", "margin"] = "top"
    """Confidence = the top probability, or the margin between the top two."""
    default_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    """Confidence of a valid generative answer when the backend reports no probabilities."""
    max_examples: int = Field(default=8, ge=0)
    """Few-shot examples shown in a generative prompt at most."""
    min_generative_b: float = Field(default=1.0, ge=0.0)
    """Under auto, a model known to be smaller than this (billions of parameters) that can embed
    classifies by embedding similarity: Gemma 3 270M picked the right one of 77 labels 24-39% of
    the time generatively, while label similarity and trained heads do far better."""


def _generative(caps: Capabilities) -> bool:
    return caps.structured_output != "none"


def _confidence(probs: dict[str, float], how: str) -> float:
    ranked = sorted(probs.values(), reverse=True)
    if how == "margin" and len(ranked) > 1:
        return max(0.0, min(1.0, ranked[0] - ranked[1]))
    return max(0.0, min(1.0, ranked[0] if ranked else 0.0))


class Classifier(Specialist[ClassifierInput, ClassifierOutput]):
    """Assigns one of a set of labels to a text."""

    name: ClassVar[str] = "classifier"
    description: ClassVar[str] = (
        "Classify a text into exactly one of a fixed set of labels. Inputs: `text`. Params: `labels` "
        "(list of label names, or of {name, description}), optional `examples` (list of {text, label}). "
        "Returns `label` (one of the labels), `confidence` in [0, 1] and `scores` (label -> probability) "
        "where known. Use for routing, triage, intent and sentiment."
    )
    Input = ClassifierInput
    Output = ClassifierOutput
    Options: ClassVar[type[BaseModel] | None] = ClassifierOptions

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.options: ClassifierOptions
        self._head: EmbeddingHead | None = None
        self._head_stamp: tuple[int, int, int] | None = None
        self._label_vectors: OrderedDict[tuple[str, str], np.ndarray[Any, np.dtype[np.float64]]] = OrderedDict()
        self._label_matrix_cache: OrderedDict[tuple[str, tuple[tuple[str, ...], ...]],
                                              tuple[np.ndarray[Any, Any], ...]] = OrderedDict()

    # -- strategy -----------------------------------------------------------------

    def mode_for(self, model: Model) -> Mode:
        """The strategy used on ``model``."""
        if self.options.mode != "auto":
            return self.options.mode
        caps = model.capabilities
        if self.options.head_path and (caps.local or not _generative(caps)):
            return "head"  # a remote model that writes answers is the head's teacher: it answers itself
        small = caps.parameters_b is not None and caps.parameters_b < self.options.min_generative_b
        if caps.embeddings and (caps.structured_output == "none" or small):
            return "embedding"
        return "generative"

    async def attempt(
        self,
        request: ClassifierInput,
        model: Model,
        *,
        instruction: str = "",
        previous: Verdict | None = None,
    ) -> Verdict:
        mode = self.mode_for(model)
        log.debug(
            "classifier.attempt",
            model=model.ref,
            mode=mode,
            labels=len(request.labels),
            repair=previous is not None,
        )
        if mode == "head":
            return await self._by_head(request, model)
        if not request.labels:
            raise InputError("the classifier needs `labels` (only a trained head can supply them)")
        if mode == "embedding":
            return await self._by_embedding(request, model)
        if previous is None and model.capabilities.scoring:
            return await self._by_choice(request, model, instruction)
        return await super().attempt(request, model, instruction=instruction, previous=previous)

    # -- generative -----------------------------------------------------------------

    def prompt(self, request: ClassifierInput, instruction: str, capabilities: Capabilities) -> list[Message]:
        lines = [
            f"- {label.name}" + (f": {label.description}" if label.description else "") for label in request.labels
        ]
        shots = "".join(
            f"Text: {ex.text}\nAnswer: {json.dumps({'label': ex.label})}\n\n"
            for ex in request.examples[: self.options.max_examples]
        )
        schema = json.dumps(self.output_schema(request))
        intro = "You classify texts. Choose exactly one label from this list:\n" + "\n".join(lines)
        if instruction:
            intro += f"\n\nTask: {instruction}"
        intro += f"\n\nAnswer with only JSON matching this schema: {schema}"
        return [system(intro), user(f"{shots}Text: {request.text}\nAnswer:")]

    def output_schema(self, request: ClassifierInput) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"label": {"type": "string", "enum": request.label_names}},
            "required": ["label"],
            "additionalProperties": False,
        }

    def check(self, request: ClassifierInput, completion: Completion) -> Verdict:
        data = completion.parsed
        if data is None:
            try:
                data = json_answer(completion.text)
            except ValueError:
                data = None
        raw_label = data.get("label") if isinstance(data, dict) else None
        if not isinstance(raw_label, str):
            return Verdict(
                None, 0.0, ['the answer must be JSON like {"label": "<one of the labels>"}'], completion.text
            )
        by_fold = {name.casefold(): name for name in request.label_names}
        label = by_fold.get(raw_label.strip().casefold())
        if label is None:
            return Verdict(
                None,
                0.0,
                [f"label {raw_label!r} is not one of: {', '.join(request.label_names)}"],
                completion.text,
            )
        confidence = self.options.default_confidence
        if completion.token_logprobs:
            confidence = math.exp(min(0.0, sum(completion.token_logprobs)))
        return Verdict(ClassifierOutput(label=label, confidence=confidence), confidence, [], completion.text)

    async def _by_choice(self, request: ClassifierInput, model: Model, instruction: str) -> Verdict:
        messages = self.prompt(request, instruction, model.capabilities)
        prompt = (
            "\n\n".join(m.content for m in messages)
            .replace("Answer with only JSON", "Answer with the label")
            .rsplit("Answer:", 1)[0]
            + "Label:"
        )
        names = request.label_names
        probs = await choose(model, prompt, [f" {n}" for n in names])
        if probs is None:
            return await super().attempt(request, model, instruction=instruction)
        scores = {name: probs[f" {name}"] for name in names}
        label = max(scores, key=scores.__getitem__)
        confidence = _confidence(scores, self.options.confidence)
        return Verdict(
            ClassifierOutput(label=label, confidence=confidence, scores=scores),
            confidence,
            [],
            json.dumps({"label": label}),
        )

    # -- embedding zero-shot --------------------------------------------------------------

    async def _embed_cached(self, model: Model, texts: list[str]) -> list[np.ndarray[Any, Any]]:
        missing = list(dict.fromkeys(t for t in texts if (model.ref, t) not in self._label_vectors))
        if missing:
            for text, vec in zip(missing, await model.embed(missing), strict=True):
                self._label_vectors[(model.ref, text)] = np.asarray(vec, dtype=np.float64)
            while len(self._label_vectors) > 4096:
                self._label_vectors.popitem(last=False)
        return [self._label_vectors[(model.ref, t)] for t in texts]

    async def _label_matrices(self, request: ClassifierInput, model: Model) -> list[np.ndarray[Any, Any]]:
        """Per label, its unit vectors: the name and description (with its examples' mean), then
        each phrase of the description when matching sentences."""
        sentences = self.options.match == "sentences"
        phrasings = [_phrasings(label.name, label.description, sentences) for label in request.labels]
        key = (model.ref, tuple(phrasings))
        if not request.examples and (known := self._label_matrix_cache.get(key)) is not None:
            self._label_matrix_cache.move_to_end(key)
            return list(known)  # read-only arrays: the steps of every run share them
        vectors = await self._embed_cached(model, [text for texts in phrasings for text in texts])
        matrices: list[np.ndarray[Any, Any]] = []
        for texts in phrasings:
            mine, vectors = vectors[: len(texts)], vectors[len(texts) :]
            matrices.append(np.stack([_unit(v) for v in mine]))
        if not request.examples:
            for matrix in matrices:
                matrix.setflags(write=False)
            self._label_matrix_cache[key] = tuple(matrices)
            while len(self._label_matrix_cache) > _LABEL_SETS:
                self._label_matrix_cache.popitem(last=False)
        if request.examples:
            example_vecs = np.asarray(await model.embed([ex.text for ex in request.examples]), dtype=np.float64)
            for matrix, name in zip(matrices, request.label_names, strict=True):
                shots = [v for v, ex in zip(example_vecs, request.examples, strict=True) if ex.label == name]
                if shots:
                    matrix[0] = _unit(matrix[0] + _unit(np.mean(shots, axis=0)))
        return matrices

    def _pieces(self, text: str) -> list[str]:
        """The text, and in sentence matching its sentences of three words or more (headings skipped)."""
        if self.options.match != "sentences":
            return [text]
        sentences = [s for s in split_sentences(text) if word_count(s) >= 3 and not is_heading(s)]
        return list(dict.fromkeys([text, *sentences[:_MAX_SENTENCES]]))

    async def _by_embedding(self, request: ClassifierInput, model: Model) -> Verdict:
        if not model.capabilities.embeddings:
            raise ConfigError(
                f"embedding mode needs a model that embeds; {model.ref} does not",
                key="classifier.options.mode",
            )
        labels = await self._label_matrices(request, model)
        embedded = await model.embed(self._pieces(request.text))
        pieces = np.stack([_unit(np.asarray(v, dtype=np.float64)) for v in embedded])
        sims = [float((matrix @ pieces.T).max()) for matrix in labels]
        probs = dict(zip(request.label_names, softmax(sims, self.options.temperature), strict=True))
        return self._verdict(probs)

    # -- trained head -------------------------------------------------------------------

    def head(self) -> EmbeddingHead:
        """The trained head, loaded from ``Options.head_path`` and reloaded when that file changes
        (a distilled version promoted while this process runs is picked up at the next step)."""
        if not self.options.head_path:
            raise ConfigError("head mode needs options.head_path", key="classifier.options.head_path")
        try:
            stat = os.stat(self.options.head_path)
            stamp: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if self._head is None or (stamp is not None and stamp != self._head_stamp):
            self._head = EmbeddingHead.load(self.options.head_path)
            self._head_stamp = stamp
        return self._head

    def _no_head_yet(self) -> bool:
        """A head path is set but nothing was distilled there yet (the cascade escalates)."""
        return bool(self.options.head_path) and self._head is None and not os.path.exists(str(self.options.head_path))

    def learner(self, model: Model) -> HeadLearner:
        """What distillation fits for this classifier: its head, on ``model``'s embeddings."""
        return HeadLearner(model, self.options.head_path, regularization=self.options.head_regularization,
                           knn_weight=self.options.head_knn_weight, knn_temperature=self.options.head_knn_temperature)

    async def _by_head(self, request: ClassifierInput, model: Model) -> Verdict:
        if self._no_head_yet():
            problem = f"no trained head at {self.options.head_path} yet; run `orchestrator distill`"
            return Verdict(None, 0.0, [problem], "")
        head = self.head()
        if head.embedder and head.embedder != model.ref:
            log.warning("classifier.head_embedder_mismatch", head=head.embedder, model=model.ref)
        vector = (await model.embed([request.text]))[0]
        row = head.predict_proba([vector])[0]
        probs = {label: float(p) for label, p in zip(head.labels, row, strict=True)}
        if request.labels:
            wanted = [name for name in request.label_names if name in probs]
            if not wanted:
                raise InputError(f"none of the labels {request.label_names} is known to the trained head")
            total = sum(probs[name] for name in wanted) or 1.0
            probs = {name: probs[name] / total for name in wanted}
        return self._verdict(probs)

    def _verdict(self, probs: dict[str, float]) -> Verdict:
        label = max(probs, key=probs.__getitem__)
        confidence = _confidence(probs, self.options.confidence)
        output = ClassifierOutput(label=label, confidence=confidence, scores=probs)
        return Verdict(output, confidence, [], json.dumps({"label": label}))


_LABEL_SETS = 256
"""Label sets whose unit-vector matrices are kept (least recently used out first)."""
_MAX_SENTENCES = 64
"""Sentences of a long text compared with the labels at most (the first ones)."""


@functools.lru_cache(maxsize=4096)
def _phrasings(name: str, description: str, phrases: bool) -> tuple[str, ...]:
    """``"name: description"`` of a label, then with ``phrases`` each phrase of two words or more
    of the description after its first colon (the whole description when it has none). Kept: every
    step of a workflow asks again for the same labels."""
    name = name.replace("_", " ")
    if not description:
        return (name,)
    texts = [f"{name}: {description}"]
    if phrases:
        _, colon, rest = description.partition(":")
        parts = (part.strip(" .") for part in re.split(r"[;,]", rest if colon else description))
        texts += [part for part in parts if len(part.split()) >= 2]
    return tuple(texts)


def _unit(vector: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


__all__ = ["Classifier", "ClassifierInput", "ClassifierOptions", "ClassifierOutput", "Example", "Label"]
