"""The summarizer specialist: generative, map-reduce for long texts, or extractive.

- **generative**: one prompt; a text longer than the model's context is cut
  into chunks that are summarised concurrently (map) and then combined (reduce).
- **extractive** (default for models under ``Options.min_generative_b`` billion
  parameters, and for embed-only models): the most central, non-redundant
  sentences of the text itself, in their original order. Headings, numbering
  and signatures are not sentences and are skipped (unless the text has
  nothing else); a leading ``Subject:`` label is dropped from a picked line.
  Faithful by construction, hence a high confidence.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections import OrderedDict
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from orchestrator.agents._grounding import bag_of_words, is_heading, select_sentences, split_sentences, word_count
from orchestrator.logging import get_logger
from orchestrator.models.base import Completion, Message, Model, assistant, estimate_tokens, system, user
from orchestrator.models.streaming import generate
from orchestrator.specialist import Specialist, Verdict

log = get_logger(__name__)

Style = Literal["paragraph", "bullets", "one_sentence"]
Method = Literal["generative", "extractive", "map_reduce"]

_STYLE_HINT: dict[str, str] = {
    "paragraph": "Write one short paragraph.",
    "bullets": "Write a few bullet points, one per line, each starting with '- '.",
    "one_sentence": "Write exactly one sentence.",
}
_DOCUMENT_CHARS = 8000
"""The whole-text vector an extractive summary centres on reads this much of the text (embedding
models truncate far sooner; the sentences' centroid covers the rest)."""
_SUBJECT = re.compile(r"^(?:subject|betreff|objet|asunto)\s*:\s*", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:here is (?:a|the) summary[^:\n]*:|summary\s*:)\s*", re.IGNORECASE)


class SummarizerInput(BaseModel):
    """The text to summarise and the shape of the summary."""

    text: str = Field(min_length=1, description="The text to summarise (a document, a dialogue, a thread).")
    max_words: int = Field(default=60, ge=3, le=2000, description="Upper bound on the summary's length in words.")
    style: Style = Field(default="paragraph", description="paragraph, bullets, or one_sentence.")


class SummarizerOutput(BaseModel):
    """A summary and how it was made."""

    summary: str = Field(description="The summary.")
    method: Method = Field(description="generative, extractive (sentences of the text), or map_reduce.")
    confidence: float = Field(ge=0.0, le=1.0, description="How much the summary can be trusted, in [0, 1].")


class SummarizerOptions(BaseModel):
    """Deployment options of the summarizer."""

    extractive: bool | Literal["auto"] = "auto"
    """Pick sentences instead of generating; auto: on for small or embed-only models."""
    min_generative_b: float = Field(default=1.0, ge=0.0)
    """Models known to be smaller than this (billions of parameters) summarise extractively under auto."""
    extractive_confidence: float = Field(default=0.9, ge=0.0, le=1.0)
    generative_confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    """Confidence of a valid generative summary when the backend reports no log-probabilities."""
    context_fraction: float = Field(default=0.6, gt=0.0, le=0.95)
    """Share of the model's context one chunk of text may fill (the rest is prompt and answer)."""
    diversity: float = Field(default=0.3, ge=0.0, le=1.0)
    """Weight of redundancy against centrality when picking sentences (maximal marginal relevance)."""
    max_sentences: int = Field(default=400, ge=1)
    """Distinct sentences an extractive summary weighs at most; a longer text is sampled evenly across
    its length (every sentence of a 5 MB log would mean embedding 90,000 of them and a 90,000-square
    similarity matrix)."""


class Summarizer(Specialist[SummarizerInput, SummarizerOutput]):
    """Summarises a text within a word budget."""

    name: ClassVar[str] = "summarizer"
    description: ClassVar[str] = (
        'Summarise a text. Inputs: `text`. Params: `max_words` (default 60), `style` ("paragraph", '
        '"bullets" or "one_sentence"). Returns `summary`, `method` (generative, extractive or map_reduce) '
        "and `confidence`. Handles texts longer than the model's context by map-reduce."
    )
    Input = SummarizerInput
    Output = SummarizerOutput
    Options: ClassVar[type[BaseModel] | None] = SummarizerOptions

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._partials: OrderedDict[str, list[str]] = OrderedDict()

    def extractive_on(self, model: Model) -> bool:
        """Whether ``model`` summarises by picking sentences."""
        option = self.options.extractive
        if option != "auto":
            return bool(option)
        caps = model.capabilities
        small = caps.parameters_b is not None and caps.parameters_b < self.options.min_generative_b
        return small or (caps.embeddings and caps.structured_output == "none")

    async def attempt(
        self,
        request: SummarizerInput,
        model: Model,
        *,
        instruction: str = "",
        previous: Verdict | None = None,
    ) -> Verdict:
        if self.extractive_on(model):
            return await self.extract(request, model)
        budget = max(
            64,
            int(model.capabilities.context_size * self.options.context_fraction)
            - estimate_tokens(instruction)
            - request.max_words * 2,
        )
        method: Method = "generative"
        text = request.text
        if estimate_tokens(text) > budget:
            method = "map_reduce"
            text = await self._map(request, model, budget, instruction)
        messages = self._messages(text, request, instruction, combine=method == "map_reduce")
        if previous is not None:
            messages = [*messages, assistant(previous.raw), user(self.repair_message(previous))]
        log.debug("summarizer.attempt", model=model.ref, method=method, repair=previous is not None)
        completion = await generate(  # streamed as step.delta events where the model streams
            model, messages, max_tokens=_max_tokens(request.max_words), logprobs=model.capabilities.logprobs
        )
        return self._judge(request, completion, method)

    def repair_message(self, previous: Verdict) -> str:
        problems = "\n".join(f"- {p}" for p in previous.problems)
        return f"Your summary was not acceptable:\n{problems}\nWrite the summary again, fixing these problems."

    # -- generative -------------------------------------------------------------------

    def _messages(
        self,
        text: str,
        request: SummarizerInput,
        instruction: str,
        *,
        combine: bool,
        max_words: int | None = None,
    ) -> list[Message]:
        words = max_words or request.max_words
        task = (
            "The text below is a series of summaries of consecutive parts of one document. "
            "Combine them into one summary of the whole document."
            if combine
            else "Summarise the text below."
        )
        rules = (
            f"{task} Use at most {words} words. {_STYLE_HINT[request.style]} "
            "State only what the text says; do not add facts. Answer with the summary only."
        )
        if instruction:
            rules += f"\nTask: {instruction}"
        return [system(rules), user(f"Text:\n{text}\n\nSummary:")]

    async def _map(self, request: SummarizerInput, model: Model, budget: int, instruction: str) -> str:
        """Summaries of the chunks, joined; cached so a repair does not redo the map."""
        key = hashlib.sha256(
            f"{model.ref}\0{request.max_words}\0{request.style}\0{instruction}\0{request.text}".encode()
        ).hexdigest()
        if key in self._partials:
            return "\n".join(self._partials[key])
        text = request.text
        partials: list[str] = []
        while estimate_tokens(text) > budget:
            chunks = chunk_text(text, budget)
            per_chunk = max(20, min(request.max_words, budget // (2 * len(chunks))))
            log.debug("summarizer.map", model=model.ref, chunks=len(chunks))
            answers = await asyncio.gather(
                *(
                    model.complete(
                        self._messages(
                            chunk,
                            request.model_copy(update={"style": "paragraph"}),
                            instruction,
                            combine=False,
                            max_words=per_chunk,
                        ),
                        max_tokens=_max_tokens(per_chunk),
                    )
                    for chunk in chunks
                )
            )
            partials = [_clean(a.text) for a in answers]
            text = "\n".join(p for p in partials if p)
        self._partials[key] = partials
        while len(self._partials) > 32:
            self._partials.popitem(last=False)
        return text

    def _judge(self, request: SummarizerInput, completion: Completion, method: Method) -> Verdict:
        summary = _clean(completion.text)
        words = word_count(summary)
        problems: list[str] = []
        if not summary:
            problems.append("the summary is empty")
        elif words > 2 * request.max_words:
            problems.append(f"the summary has {words} words; use at most {request.max_words}")
        if problems:
            return Verdict(None, 0.0, problems, completion.text)
        confidence = self.options.generative_confidence
        if completion.token_logprobs:
            mean = sum(completion.token_logprobs) / len(completion.token_logprobs)
            confidence = math.exp(min(0.0, mean))
        output = SummarizerOutput(summary=summary, method=method, confidence=confidence)
        return Verdict(output, confidence, [], completion.text)

    # -- extractive ---------------------------------------------------------------------

    async def extract(self, request: SummarizerInput, model: Model | None = None) -> Verdict:
        """An extractive summary: sentences of the text, verbatim, within ``max_words``."""
        split = split_sentences(request.text)
        sentences = list(dict.fromkeys([s for s in split if not is_heading(s)] or split or [request.text.strip()]))
        if len(sentences) > self.options.max_sentences:
            step = len(sentences) / self.options.max_sentences
            sentences = [sentences[int(i * step)] for i in range(self.options.max_sentences)]
        document = request.text[:_DOCUMENT_CHARS]
        if model is not None and model.capabilities.embeddings:
            vectors = await model.embed([*sentences, document])
        else:
            vectors = bag_of_words([*sentences, document])
        lengths = [word_count(s) for s in sentences]
        chosen = select_sentences(
            vectors[:-1],
            vectors[-1],
            lengths,
            request.max_words,
            diversity=self.options.diversity,
            max_sentences=1 if request.style == "one_sentence" else None,
        )
        picked = [_SUBJECT.sub("", sentences[i]) or sentences[i] for i in chosen]
        if len(picked) == 1 and lengths[chosen[0]] > request.max_words:
            picked = [" ".join(picked[0].split()[: request.max_words])]
        summary = "\n".join(f"- {s}" for s in picked) if request.style == "bullets" else " ".join(picked)
        confidence = self.options.extractive_confidence
        log.debug("summarizer.extractive", sentences=len(sentences), picked=len(picked))
        output = SummarizerOutput(summary=summary, method="extractive", confidence=confidence)
        return Verdict(output, confidence, [], summary)


def chunk_text(text: str, max_tokens: int) -> list[str]:
    """Consecutive chunks of whole sentences, each about ``max_tokens`` or fewer."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for sentence in split_sentences(text):
        pieces = [sentence]
        if estimate_tokens(sentence) > max_tokens:  # one huge "sentence": cut by words
            words = sentence.split()
            step = max(1, max_tokens * 3 // 4)
            pieces = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        for piece in pieces:
            cost = estimate_tokens(piece) + 1
            if current and size + cost > max_tokens:
                chunks.append("\n".join(current))
                current, size = [], 0
            current.append(piece)
            size += cost
    if current:
        chunks.append("\n".join(current))
    return chunks


def _max_tokens(words: int) -> int:
    return int(words * 2) + 16


def _clean(text: str) -> str:
    text = _PREFIX.sub("", text.strip())
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.strip()


__all__ = ["Summarizer", "SummarizerInput", "SummarizerOptions", "SummarizerOutput", "chunk_text"]
