"""``orchestrator eval TARGET DATASET --expect FIELD=COLUMN``: measure a workflow or a specialist on labelled data.

::

    orchestrator eval ticket_triage examples/eval/tickets.jsonl --input ticket=text \\
        --expect category=category --expect urgency=urgency --target-accuracy 0.95 --html report.html

Prints a table per expected field (accuracy, share answered locally, accuracy of the local
answers, threshold for the target), cost against the all-large-model baseline, latency and
errors; ``--json`` prints the whole report, ``--html`` writes a self-contained page with the
risk-coverage and calibration plots. ``--target-accuracy`` finds the confidence threshold that
keeps that accuracy on the data; ``--write-config`` writes it into the configuration file.

Exit status: 0 when evaluated; 1 when ``--target-accuracy`` was given and some specialist has
no threshold that holds it (so CI can gate on it); 2 for bad options or data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import (
    add_app_option,
    add_config_options,
    build_orchestrator,
    config_path,
    parse_sensitivity,
    print_json,
    warn_overrides,
)
from orchestrator.interfaces.cli.batch import LiveLine

if TYPE_CHECKING:
    from orchestrator.engine.batch import BatchProgress
    from orchestrator.evaluation import EvalReport, ItemScore

BAR = 24


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="measure a workflow or one specialist on a labelled dataset",
        description="Run TARGET (a workflow, or one specialist by name) on every row of DATASET (.jsonl or .csv) "
                    "and score the answers against the expected columns.")
    parser.add_argument("target", help="a workflow name, or a specialist (e.g. classifier) run as one step")
    parser.add_argument("dataset", help="labelled items: a .jsonl or .csv file")
    parser.add_argument("-e", "--expect", action="append", required=True, metavar="FIELD=COLUMN[:METRIC]",
                        help="score answer FIELD (dotted: fields.email) against COLUMN; METRIC is normalised "
                             "(default), exact or rouge")
    parser.add_argument("-i", "--input", action="append", default=[], metavar="NAME=COLUMN",
                        help="feed COLUMN to input NAME (default: every other column under its own name)")
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                        help="a specialist target's params: key=value, key=@file.json or key:=JSON "
                             "(e.g. labels:='[\"billing\", \"refund\"]')")
    parser.add_argument("--concurrency", type=int, default=8, metavar="N", help="items in flight at once (default 8)")
    parser.add_argument("--target-accuracy", type=float, metavar="A",
                        help="find the confidence threshold keeping local accuracy >= A (e.g. 0.95)")
    parser.add_argument("--conservative", action="store_true",
                        help="with --target-accuracy: the Wilson 95%% lower bound must reach A (small sets)")
    parser.add_argument("--write-config", nargs="?", const="", metavar="PATH",
                        help="with --target-accuracy: write the thresholds into PATH (default: --config, "
                             "else ./orchestrator.toml)")
    parser.add_argument("--items", metavar="PATH",
                        help="write each item's scores here, one JSON line each (expected, answer, who answered, "
                             "the local model's confidence), for error analysis")
    parser.add_argument("--limit", type=int, metavar="N", help="score only the first N items")
    parser.add_argument("--warmup", action="store_true",
                        help="run the first item once, unscored, first (model loading out of the latencies)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--html", metavar="PATH", help="write a self-contained HTML report with plots")
    parser.add_argument("--sensitivity", action="append", metavar="KEY=LEVEL",
                        help="mark an input public, internal or confidential")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_app_option(parser)
    add_config_options(parser)
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    if args.write_config is not None and args.target_accuracy is None:
        raise InputError("--write-config writes the thresholds --target-accuracy finds; give --target-accuracy "
                         "too (e.g. --target-accuracy 0.95)")
    if args.concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, not {args.concurrency}")
    params = _params(args.param)
    live = None if args.quiet or args.json or not sys.stderr.isatty() else LiveLine(sys.stderr)
    try:
        with contextlib.ExitStack() as stack:
            items = stack.enter_context(Path(args.items).open("w", encoding="utf-8")) if args.items else None
            report = asyncio.run(_evaluate(args, params, live, items))
    finally:
        if live is not None:
            live.finish()
    if args.html:
        from orchestrator.evaluation.html import render

        Path(args.html).write_text(render(report), encoding="utf-8")
    written = _write_config(args, report) if args.write_config is not None else None
    if args.json:
        print_json(report.model_dump(mode="json"))
    else:
        print(table(report))
        if args.html:
            print(f"\nreport written to {args.html}")
        if written:
            print(f"thresholds written to {written}")
    missed = args.target_accuracy is not None and any(t is None for t in report.thresholds.values())
    return 1 if missed else 0


def _params(items: list[str] | None) -> dict[str, Any]:
    from orchestrator.errors import InputError
    from orchestrator.interfaces.cli._inputs import parse_inputs

    try:
        return parse_inputs(items)
    except InputError as exc:
        raise InputError(str(exc).replace("--input", "--param")) from None


async def _evaluate(args: argparse.Namespace, params: dict[str, Any], live: LiveLine | None,
                    items: IO[str] | None) -> EvalReport:
    def on_progress(progress: BatchProgress) -> None:
        if live is not None:
            live.show(progress_bar(progress))

    def on_item(score: ItemScore) -> None:
        if items is not None:
            items.write(json.dumps(dataclasses.asdict(score), ensure_ascii=False, default=str) + "\n")

    orch = build_orchestrator(args)
    async with orch:
        return await orch.evaluate(args.target, args.dataset, expect=args.expect, inputs=args.input, params=params,
                                   concurrency=args.concurrency, target_accuracy=args.target_accuracy,
                                   conservative=args.conservative, sensitivity=parse_sensitivity(args.sensitivity),
                                   on_progress=on_progress, on_item=on_item, limit=args.limit, warmup=args.warmup)


def progress_bar(progress: BatchProgress) -> str:
    """``[#########...............] 120/300 items  14.2/s  eta 13s ...``."""
    share = progress.done / progress.total if progress.total else 0.0
    filled = min(BAR, int(share * BAR))
    return f"[{'#' * filled}{'.' * (BAR - filled)}] {progress.line()}"


def _write_config(args: argparse.Namespace, report: EvalReport) -> str | None:
    from orchestrator.evaluation.thresholds import write_thresholds

    found = {agent: t for agent, t in report.thresholds.items() if t is not None}
    if not found:
        return None
    path = config_path(args)
    day = datetime.now(UTC).date().isoformat()
    parts = []
    for f in report.fields:
        c = f.calibration
        if f.agent in found and c is not None and c.coverage_at_threshold is not None:
            parts.append(f"{f.field} {c.coverage_at_threshold:.0%} local at {c.accuracy_at_threshold:.1%}")
    note = (f"{day}, {report.dataset} ({report.items} items), target accuracy {args.target_accuracy:g}"
            f"{' (Wilson bound)' if args.conservative else ''}: {'; '.join(parts)}")
    write_thresholds(path, found, note, profile=args.profile)
    warn_overrides(args, path, found)
    return str(path)


def table(report: EvalReport) -> str:
    """The report for people: one row per field, then cost, latency, mistakes and errors."""
    lines = [f"{report.target} on {report.dataset}: {report.items} items, {report.failed} failed, "
             f"{report.seconds:.1f} s", ""]
    width = max([8, *(len(f.field) for f in report.fields)])
    target = next((f.calibration.target_accuracy for f in report.fields if f.calibration), None)
    header = (f"{'field':<{width}} {'metric':<10} {'accuracy':>8} {'local':>7} {'remote':>7} {'none':>6} "
              f"{'local acc':>9} {'conf acc':>8} {'ECE':>5}")
    if target is not None:
        header += f"  threshold for {target:.0%} (local share)"
    lines += [header, "-" * len(header)]
    for f in report.fields:
        c = f.calibration
        row = (f"{f.field:<{width}} {f.metric:<10} {_pct(f.accuracy):>8} {_pct(f.answered_locally):>7} "
               f"{_pct(f.answered_remotely):>7} {_pct(f.unanswered):>6} "
               f"{'-' if f.local_accuracy is None else _pct(f.local_accuracy):>9} "
               f"{'-' if c is None else _pct(c.accuracy):>8} {'-' if c is None else f'{c.ece:.2f}':>5}")
        if target is not None:
            row += "  " + ("-" if c is None else "none reaches it" if c.threshold is None
                           else f"{c.threshold:.4f} ({_pct(c.coverage_at_threshold or 0)})")
        lines.append(row)
        if f.metric == "rouge":
            lines.append(f"{'':<{width}} ROUGE-1 {f.rouge1 or 0:.3f}  ROUGE-2 {f.rouge2 or 0:.3f}  "
                         f"ROUGE-L {f.mean_score:.3f}")
    lines.append("")
    lines.append(f"cost ${report.cost_usd:.6f}; on {report.baseline_model or 'the baseline model'} everywhere: "
                 f"${report.baseline_cost_usd:.6f}; latency p50 {report.latency_p50_ms:.0f} ms, "
                 f"p95 {report.latency_p95_ms:.0f} ms")
    lines.append("'conf acc' and ECE: the local model's own answers on every item, kept or escalated")
    if report.thresholds:
        lines.append("thresholds: " + ", ".join(f"{a} {'none' if t is None else f'{t:.4f}'}"
                                                for a, t in report.thresholds.items()))
    lines += [f"note: {note}" for note in report.notes]
    for f in report.fields:
        if f.confusions:
            mistakes = ", ".join(f"{c.expected} -> {c.predicted} ({c.count})" for c in f.confusions[:5])
            lines.append(f"{f.field} mistakes: {mistakes}")
    if report.errors:
        lines.append(f"errors ({report.failed}):")
        lines += [f"  {e.id}: {e.error[:160]}" for e in report.errors[:5]]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{value:.1%}"


__all__ = ["progress_bar", "register", "table"]
