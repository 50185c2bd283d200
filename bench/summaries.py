"""Extractive summaries on SAMSum and XSum: sentence splitting by pysbd's rules against the
punctuation regex it replaced, side by side on the same texts.

Reads ``../shared/data/samsum/test.jsonl`` (dialogues) and ``../shared/data/xsum/test_first200.jsonl``
(news articles) by path. For each text the summarizer's extractive path (no model: bag-of-words
vectors, as a deployment without an embedder runs it) picks sentences within ``--max-words``; both
splitters see the same texts. Reported per data set and splitter: ROUGE-1, ROUGE-2 and ROUGE-L F1
against the reference summaries (``orchestrator eval``'s ROUGE, :func:`orchestrator.evaluation.metrics.rouge`:
lower-cased word tokens, no stemming, not the official scorer, so compare the two columns rather
than with published numbers), the share of picked sentences that are fragments (3 words or fewer, or ending in an
abbreviation such as "Dr." or "Jan."), and milliseconds per text for splitting alone.

    python bench/summaries.py [--limit 200] [--max-words 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import Row, quiet_logging, report  # noqa: E402
from orchestrator.agents import _grounding, summarizer  # noqa: E402
from orchestrator.evaluation.metrics import rouge  # noqa: E402

DATA = next((p for p in (ROOT / "../shared/data", ROOT / "../../shared/data") if p.is_dir()), ROOT / "../shared/data")
SETS = {"samsum": ("samsum/test.jsonl", "context", "response"),
        "xsum": ("xsum/test_first200.jsonl", "document", "summary")}
_TOKEN = re.compile(r"[a-z0-9]+")
_ABBREVIATION_END = re.compile(r"\b(?:dr|mr|mrs|ms|prof|st|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
                               r"inc|ltd|co|vs|etc|e\.g|i\.e|[a-z])\.$", re.IGNORECASE)


def load(name: str, limit: int) -> list[tuple[str, str]]:
    path, text_key, reference_key = SETS[name]
    rows = []
    with (DATA / path).open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record.get(text_key) and record.get(reference_key):
                rows.append((record[text_key], record[reference_key]))
            if len(rows) >= limit:
                break
    return rows


def is_fragment(sentence: str) -> bool:
    return len(_TOKEN.findall(sentence.lower())) <= 3 or bool(_ABBREVIATION_END.search(sentence.strip()))


def measure(rows: Sequence[tuple[str, str]], split: Callable[[str], list[str]], max_words: int) -> dict[str, float]:
    original = getattr(summarizer, "split_sentences")  # noqa: B009 - the module's own name, swapped below
    setattr(summarizer, "split_sentences", split)  # noqa: B010 - the extractive path's splitter, for this run
    try:
        agent = summarizer.Summarizer()
        totals = [0.0, 0.0, 0.0]
        picked = fragments = 0
        split_seconds = 0.0
        for text, reference in rows:
            started = time.perf_counter()
            split(text)
            split_seconds += time.perf_counter() - started
            verdict = asyncio.run(agent.extract(summarizer.SummarizerInput(text=text, max_words=max_words)))
            assert isinstance(verdict.output, summarizer.SummarizerOutput)
            summary = verdict.output.summary
            scores = rouge(summary, reference)
            for i, score in enumerate((scores.rouge1, scores.rouge2, scores.rougeL)):
                totals[i] += score
            sentences = [s for s in split(text) if s in summary]
            picked += len(sentences)
            fragments += sum(is_fragment(s) for s in sentences)
    finally:
        setattr(summarizer, "split_sentences", original)  # noqa: B010
    n = len(rows)
    return {"rouge1": totals[0] / n, "rouge2": totals[1] / n, "rougeL": totals[2] / n,
            "fragment_share": fragments / picked if picked else 0.0, "split_ms": split_seconds / n * 1000}


def by_punctuation(text: str) -> list[str]:
    """The splitter before pysbd: the same line handling, prose cut at punctuation."""
    limit = _grounding.RULE_BASED_MAX_CHARS
    _grounding.RULE_BASED_MAX_CHARS = -1
    try:
        return _grounding.split_sentences(text)
    finally:
        _grounding.RULE_BASED_MAX_CHARS = limit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=200, help="texts per data set (default 200)")
    parser.add_argument("--max-words", type=int, default=30, help="summary length in words (default 30)")
    args = parser.parse_args(argv)
    quiet_logging()
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for name in SETS:
        data = load(name, args.limit)
        ours = measure(data, _grounding.split_sentences, args.max_words)
        before = measure(data, by_punctuation, args.max_words)
        details[name] = {"texts": len(data), "pysbd": ours, "punctuation": before}
        for metric, unit in (("rouge1", "F1"), ("rouge2", "F1"), ("rougeL", "F1"),
                             ("fragment_share", "share"), ("split_ms", "ms/text")):
            rows.append(Row("summaries", f"{name} {metric}", ours[metric], unit, baseline=before[metric],
                            baseline_name="punctuation regex"))
    report("summaries", rows, details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
