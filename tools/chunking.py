"""Split long text into chunks that fit a small model's context.

Each chunk is at most ``max_chars`` characters and is a slice of the original
text (trimmed of surrounding whitespace), so ``offsets`` can point a citation
back into the document. A chunk ends at the best boundary that keeps it at
least half full, preferring, in order: a blank line (paragraph; but not
right after a heading, so a title stays with its section), a line break, the
end of a sentence, a space between words. Only a run of text with no
whitespace at all is cut mid-word.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from pydantic import BaseModel, Field, model_validator

from orchestrator.specialist import Tool

DEFAULT_MAX_CHARS = 2000

_PARAGRAPH = re.compile(r"[ \t\r\f\v]*\n[ \t\r\f\v]*\n")
_LINE = re.compile(r"[ \t\r\f\v]*\n")
_SENTENCE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)")
_SPACE = re.compile(r"\s+")
_NON_SPACE = re.compile(r"\S")
_HEADING_CHARS = 100
_CLOSING = ".!?:;,\"')]\u201d\u2019\u2026"


@dataclass(frozen=True, slots=True)
class _Boundaries:
    """Sorted positions where a chunk may end, coarsest level first."""

    levels: tuple[list[int], ...]
    word_starts: list[int]

    @classmethod
    def of(cls, text: str) -> _Boundaries:
        return cls(
            levels=(
                _paragraph_ends(text),
                [m.start() for m in _LINE.finditer(text)],
                [m.end() for m in _SENTENCE.finditer(text)],
                [m.start() for m in _SPACE.finditer(text)],
            ),
            word_starts=[m.end() for m in _SPACE.finditer(text)],
        )

    def end(self, floor: int, limit: int, min_end: int) -> int | None:
        """The best boundary in ``(floor, limit]``: the coarsest level that reaches ``min_end``,
        else the furthest boundary of any level; ``None`` when there is none."""
        furthest: int | None = None
        for positions in self.levels:
            index = bisect.bisect_right(positions, limit) - 1
            if index < 0 or positions[index] <= floor:
                continue
            candidate = positions[index]
            if candidate >= min_end:
                return candidate
            furthest = candidate if furthest is None else max(furthest, candidate)
        return furthest

    def next_word_start(self, position: int) -> int | None:
        """The first position at or after ``position`` where a word begins after whitespace."""
        index = bisect.bisect_left(self.word_starts, position)
        return self.word_starts[index] if index < len(self.word_starts) else None


def _paragraph_ends(text: str) -> list[int]:
    """Ends of paragraphs, except after a heading: a chunk should not end with its next title."""
    ends: list[int] = []
    paragraph_start = 0
    for match in _PARAGRAPH.finditer(text):
        paragraph = text[paragraph_start:match.start()].strip()
        if not _is_heading(paragraph):
            ends.append(match.start())
        paragraph_start = match.end()
    return ends


def _is_heading(paragraph: str) -> bool:
    """A single short line without closing punctuation, such as ``2. Results``."""
    return 0 < len(paragraph) <= _HEADING_CHARS and "\n" not in paragraph and paragraph[-1] not in _CLOSING


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS, overlap: int = 0) -> list[tuple[int, str]]:
    """``(offset, chunk)`` pairs covering ``text``; see the module docstring for the rules."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if not 0 <= overlap < max_chars:
        raise ValueError("overlap must be at least 0 and smaller than max_chars")
    bounds = _Boundaries.of(text)
    chunks: list[tuple[int, str]] = []
    start, end = _skip_space(text, 0), 0
    while start < len(text):
        limit = start + max_chars
        if len(text) <= limit:
            end = len(text)
        else:
            # past the previous end too, so an overlapping chunk always moves forward
            found = bounds.end(max(start, end), limit, min_end=start + max_chars // 2)
            end = limit if found is None else found
        chunk = text[start:end].rstrip()
        chunks.append((start, chunk))
        if end >= len(text):
            break
        start = _next_start(text, bounds, start, end, overlap)
    return chunks


def _skip_space(text: str, position: int) -> int:
    match = _NON_SPACE.search(text, position)
    return match.start() if match else len(text)


def _next_start(text: str, bounds: _Boundaries, start: int, end: int, overlap: int) -> int:
    """Where the chunk after ``text[start:end]`` begins: ``overlap`` characters back, at a word."""
    after = _skip_space(text, end)
    if overlap == 0:
        return after
    target = max(end - overlap, start + 1)
    word = bounds.next_word_start(target)
    if word is not None and word < end:
        return word
    if text[end - 1].isspace() or text[end:end + 1].isspace():
        return after  # no word starts inside the overlap window
    return target  # a hard cut inside an unbroken run: overlap by characters


class ChunkTextInput(BaseModel):
    """What :class:`ChunkText` reads."""

    text: str = Field(description="The text to split.")
    max_chars: int = Field(default=DEFAULT_MAX_CHARS, ge=1,
                           description="Longest allowed chunk, in characters.")
    overlap: int = Field(
        default=0, ge=0,
        description="About this many characters at the end of a chunk are repeated at the start of the "
        "next (starting at a word), so sentences cut at a boundary keep their context.",
    )

    @model_validator(mode="after")
    def _overlap_below_max(self) -> ChunkTextInput:
        if self.overlap >= self.max_chars:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than max_chars ({self.max_chars})")
        return self


class ChunkTextOutput(BaseModel):
    """The chunks, in document order."""

    chunks: list[str] = Field(description="The chunks; each at most max_chars characters.")
    count: int = Field(description="Number of chunks.")
    offsets: list[int] = Field(description="Character offset of each chunk in the original text.")


class ChunkText(Tool[ChunkTextInput, ChunkTextOutput]):
    """Splits text at paragraph, then sentence, then word boundaries."""

    name = "chunk_text"
    description = (
        "Split a long text into chunks of at most max_chars characters (default 2000), ending chunks "
        "at paragraph breaks where possible, else at sentence ends, else between words; optional "
        "overlap repeats the end of each chunk at the start of the next. Returns chunks (list of "
        "strings), count and offsets (where each chunk starts in the text). Deterministic, no model."
    )
    Input = ChunkTextInput
    Output = ChunkTextOutput

    def run(self, request: ChunkTextInput) -> ChunkTextOutput:
        pieces = split_text(request.text, request.max_chars, request.overlap)
        return ChunkTextOutput(chunks=[chunk for _, chunk in pieces], count=len(pieces),
                               offsets=[offset for offset, _ in pieces])


__all__ = ["DEFAULT_MAX_CHARS", "ChunkText", "ChunkTextInput", "ChunkTextOutput", "split_text"]
