"""Document digest: chunk a long document, summarise the chunks in parallel, combine.

::

    document ─▶ chunks    (chunk_text, 2,000-character sections)
             ─▶ sections  (summarizer, for_each chunk: one step per section, all in parallel)
             ─▶ combined  (join_texts: the section summaries in document order)
             ─┬▶ summary  (summarizer, bullets, max_words)
              └▶ headline (summarizer, one sentence, 25 words)

    answer = {headline, summary, sections, chunk_count}

A Plan is fixed before the run, but the number of sections is only known once
``chunk_text`` has run, so ``sections`` is a fan-out (``for_each``): the
executor runs the summarizer once per chunk, concurrently within the run's and
the model's concurrency limits, and collects the summaries in document order.
A resumed run keeps the sections already summarised. The two reduce steps read
the combined section summaries and run side by side, so the critical path is
chunk, one section summary, one reduce.
"""

from __future__ import annotations

from orchestrator.workflow import EACH, Input, Workflow

SECTION_CHARS = 2000
"""Chunk size of a section (the ``chunk_text`` default)."""
SECTION_WORDS = 60
"""Longest summary of one section, in words."""
HEADLINE_WORDS = 25
DEFAULT_SUMMARY_WORDS = 150


def build() -> Workflow:
    """The document digest workflow (a new object on each call)."""
    wf = Workflow(
        "document_digest",
        "Digest a long document: summarise each section in parallel, then a one-sentence headline and a "
        "bullet-point summary of the whole.",
        inputs={
            "document": Input(str, "The document text (a report, article, transcript ...)."),
            "max_words": Input(int, "Longest allowed bullet summary, in words.", required=False,
                               default=DEFAULT_SUMMARY_WORDS),
        },
        examples=["Summarize this report", "Give me the key points of this document",
                  "Summarise this article and tell me the main risks", "TL;DR of this long report please",
                  "What are the main findings of this paper?", "Digest this document into a headline and bullets"],
    )
    chunks = wf.step("chunks", "chunk_text", instruction="Split the document into sections.",
                     params={"max_chars": SECTION_CHARS}, text=wf.input.document)
    sections = wf.step("sections", "summarizer", for_each=chunks.chunks,
                       instruction="Summarise this section of a longer document: its key points and numbers.",
                       params={"style": "paragraph", "max_words": SECTION_WORDS}, text=wf.item)
    combined = wf.step("combined", "join_texts", instruction="Put the section summaries together, in order.",
                       texts=sections[EACH].summary)
    summary = wf.step("summary", "summarizer",
                      instruction="Summarise the document's key points, findings and numbers as bullets.",
                      params={"style": "bullets"}, text=combined.text, max_words=wf.input.max_words)
    headline = wf.step("headline", "summarizer",
                       instruction="Give the document's main message as a headline sentence.",
                       params={"style": "one_sentence", "max_words": HEADLINE_WORDS}, text=combined.text)
    wf.output(headline=headline.summary, summary=summary.summary, sections=sections[EACH].summary,
              chunk_count=chunks.count)
    return wf


workflow = build()

__all__ = ["DEFAULT_SUMMARY_WORDS", "HEADLINE_WORDS", "SECTION_CHARS", "SECTION_WORDS", "build", "workflow"]
