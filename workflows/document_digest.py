"""Document digest: a headline and a bullet summary of a long document, plus its chunk count.

::

    document ─┬─ chunks   (chunk_text)  ─▶ chunk_count
              ├─ summary  (summarizer, bullets, max_words)
              └─ headline (summarizer, one sentence, 25 words)

    answer = {headline, summary, method, chunk_count}

**Why not "summarise each chunk, then combine"?** A Plan is static: its
steps are fixed before the run, so it cannot fan out over a list whose length
is only known once ``chunk_text`` has run. Fixed slots (``$steps.chunks.chunks.0``
... ``.7``) would fail on short documents and silently drop the tail of long
ones. The map-reduce instead lives where the length is known: the summarizer
specialist splits a text that does not fit its model's context, summarises
the parts and then summarises those summaries. So the workflow gives the
whole document to two summarizer steps that run in parallel, one for the
bullets and one for the headline. ``chunk_text`` (no model, milliseconds)
runs beside them and reports how many 2,000-character sections the
document has, which a caller can use for statistics or to cite sections
with the same tool. The summarizer's ``method`` output says whether it
summarised directly or by map-reduce.

The headline is taken from the document rather than from the bullets so the
two model steps stay independent: wall time is one summarizer pass, not two.
"""

from __future__ import annotations

from orchestrator.workflow import Input, Workflow

SECTION_CHARS = 2000
"""Chunk size used to count sections (the ``chunk_text`` default)."""
HEADLINE_WORDS = 25
DEFAULT_SUMMARY_WORDS = 150


def build() -> Workflow:
    """The document digest workflow (a new object on each call)."""
    wf = Workflow(
        "document_digest",
        "Digest a long document: a one-sentence headline, a bullet-point summary and its section count.",
        inputs={
            "document": Input(str, "The document text (a report, article, transcript ...)."),
            "max_words": Input(int, "Longest allowed bullet summary, in words.", required=False,
                               default=DEFAULT_SUMMARY_WORDS),
        },
    )
    document = wf.input.document
    chunks = wf.step("chunks", "chunk_text", instruction="Split the document into sections.",
                     params={"max_chars": SECTION_CHARS}, text=document)
    summary = wf.step("summary", "summarizer",
                      instruction="Summarise the document's key points, findings and numbers as bullets.",
                      params={"style": "bullets"}, text=document, max_words=wf.input.max_words)
    headline = wf.step("headline", "summarizer",
                       instruction="Give the document's main message as a headline sentence.",
                       params={"style": "one_sentence", "max_words": HEADLINE_WORDS}, text=document)
    wf.output(headline=headline.summary, summary=summary.summary, method=summary.method,
              chunk_count=chunks.count)
    return wf


workflow = build()

__all__ = ["DEFAULT_SUMMARY_WORDS", "HEADLINE_WORDS", "SECTION_CHARS", "build", "workflow"]
