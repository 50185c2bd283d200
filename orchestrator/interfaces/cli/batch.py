"""``orchestrator run WORKFLOW --input-file items.jsonl [--output results.jsonl]``: a batch from a file.

Each row of the file (JSONL or CSV; see :mod:`orchestrator.engine.batch_files`) is one run;
``--concurrency`` of them run at once. Results go to ``--output`` (one JSON line per item,
failures with their reason) or to stdout. With ``--output``, a re-run skips the items
already recorded there (``--retry-failed`` runs the failed ones again), so a batch stopped
with Ctrl-C resumes where it was. A live progress line (rate, ETA, failures, cost and
saving) goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import build_orchestrator, parse_sensitivity

if TYPE_CHECKING:
    from orchestrator.engine.batch import BatchProgress, ItemResult


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-file", metavar="PATH",
                        help="run the workflow once per row of a .jsonl or .csv file (columns = inputs; "
                             "an 'id' column names the item)")
    parser.add_argument("--output", metavar="PATH",
                        help="with --input-file: append one JSON line per item here; a re-run resumes")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N",
                        help="with --input-file: items in flight at once (default 8)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --input-file and --output: run the items recorded as failed again")


def run_batch(args: argparse.Namespace) -> int:
    """Run the batch; 0 when every item succeeded, 1 when some failed, 130 when interrupted."""
    from orchestrator.engine.batch_files import count_items, done_ids

    skip = done_ids(args.output, retry_failed=args.retry_failed) if args.output else set()
    total = count_items(args.input_file)
    live = None if args.quiet or not sys.stderr.isatty() else LiveLine(sys.stderr)
    try:
        summary = asyncio.run(_batch(args, skip, total, live))
    except KeyboardInterrupt:
        if live is not None:
            live.finish()
        where = f"; run the same command again to resume from {args.output}" if args.output else ""
        print(f"stopped{where}", file=sys.stderr)
        return 130
    if live is not None:
        live.finish()
    if not args.quiet:
        print(summary.line() + (f"; {summary.skipped} already done" if summary.skipped else ""), file=sys.stderr)
    return 1 if summary.failed else 0


async def _batch(args: argparse.Namespace, skip: set[str], total: int, live: LiveLine | None) -> BatchProgress:
    from orchestrator.engine.batch_files import ResultsFile, read_items

    latest: list[BatchProgress] = []

    def on_progress(progress: BatchProgress) -> None:
        latest[:] = [progress]
        if live is not None:
            live.show(progress.line())

    orch = build_orchestrator(args)
    async with orch:
        items = orch.run_many(args.target, read_items(args.input_file), concurrency=args.concurrency, skip=skip,
                              sensitivity=parse_sensitivity(args.sensitivity), total=total, on_progress=on_progress)
        if args.output:
            with ResultsFile(args.output) as out:
                async for result in items:
                    out.write(result)
        else:
            async for result in items:
                _print(result)
    return latest[0]


def _print(result: ItemResult, stream: IO[str] | None = None) -> None:
    print(result.model_dump_json(), file=stream or sys.stdout, flush=True)


class LiveLine:
    """One status line rewritten in place (``\\r``), at most ten times a second."""

    def __init__(self, stream: Any, interval: float = 0.1):
        self.stream = stream
        self.interval = interval
        self._shown = 0.0
        self._width = 0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if now - self._shown < self.interval:
            return
        self._shown = now
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def finish(self) -> None:
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


__all__ = ["LiveLine", "add_batch_options", "run_batch"]
