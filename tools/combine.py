"""Join several texts (step outputs) into one, e.g. to summarise or report them together."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from orchestrator.specialist import Tool

JoinStyle = Literal["plain", "bullets", "numbered"]


def _entries(texts: list[str], titles: list[str] | None, deduplicate: bool) -> list[tuple[str, str]]:
    """``(title, text)`` for each non-blank text, duplicates dropped when asked."""
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, raw in enumerate(texts):
        text = raw.strip()
        if not text or (deduplicate and text in seen):
            continue
        seen.add(text)
        entries.append((titles[index] if titles and index < len(titles) else "", text))
    return entries


def _format(entries: list[tuple[str, str]], separator: str, style: JoinStyle) -> str:
    parts: list[str] = []
    for index, (title, text) in enumerate(entries, start=1):
        mark = {"plain": "", "bullets": "- ", "numbered": f"{index}. "}[style]
        parts.append(f"{mark}{title}:\n{text}" if title else f"{mark}{text}")
    return separator.join(parts)


def join_texts(texts: list[str], *, separator: str = "\n\n", style: JoinStyle = "plain",
               titles: list[str] | None = None, deduplicate: bool = False) -> str:
    """Join ``texts`` (blank ones dropped), optionally as a list and under ``titles``."""
    return _format(_entries(texts, titles, deduplicate), separator, style)


class JoinTextsInput(BaseModel):
    """What :class:`JoinTexts` reads."""

    texts: list[str] = Field(description="The texts to join, e.g. ['$steps.a.summary', '$steps.b.summary'].")
    separator: str = Field(default="\n\n", description="Placed between texts.")
    style: JoinStyle = Field(default="plain", description="plain, bullets ('- ') or numbered ('1. ').")
    titles: list[str] = Field(default_factory=list,
                              description="Optional heading for each text, in the same order.")
    deduplicate: bool = Field(default=False, description="Drop texts identical to an earlier one.")


class JoinTextsOutput(BaseModel):
    """The joined text."""

    text: str = Field(description="The texts joined into one.")
    count: int = Field(description="How many non-empty texts were joined.")


class JoinTexts(Tool[JoinTextsInput, JoinTextsOutput]):
    """Joins texts into one."""

    name = "join_texts"
    description = (
        "Join a list of texts (for example several steps' summaries) into one text, in order, blank "
        "ones dropped; optionally as bullets or a numbered list, each under a title, without "
        "duplicates. Returns text and count. Use it to feed several results into one later step. "
        "Deterministic, no model."
    )
    Input = JoinTextsInput
    Output = JoinTextsOutput

    def run(self, request: JoinTextsInput) -> JoinTextsOutput:
        entries = _entries(request.texts, request.titles, request.deduplicate)
        return JoinTextsOutput(text=_format(entries, request.separator, request.style), count=len(entries))


__all__ = ["JoinStyle", "JoinTexts", "JoinTextsInput", "JoinTextsOutput", "join_texts"]
