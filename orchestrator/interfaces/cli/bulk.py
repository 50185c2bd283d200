"""Jobs in bulk: ``orchestrator submit WORKFLOW --input-file items.jsonl`` and ``orchestrator jobs wait``.

``submit --input-file`` queues one job per row of a JSONL or CSV file (read as ``run
--input-file`` reads it, :mod:`orchestrator.engine.batch_files`: the columns are the inputs, an
``id`` column names the item); ``-i`` values are defaults every row may override, and
``--sensitivity`` applies to every row. The whole file is checked first, each row as
``Orchestrator.submit`` checks one job: if any row is bad (malformed, inputs the workflow
refuses, an id used twice), the file is refused, every bad row named by its line, and *nothing
is queued*. The jobs form a batch whose id (``--batch``, else a new one) is printed; each job's
idempotency key is ``<batch>:<item id>``, so submitting the same file with the same ``--batch``
again (after an interrupted submit) queues nothing twice.

``jobs wait [IDS...] [--batch ID]`` follows the jobs until every one has finished, with the
batch progress line (done, rate, ETA, failures, cost and saving) on stderr when it is a terminal,
and with ``--json`` one JSON line per job on stdout as it finishes. Exit status: 0 when every
job completed, 1 when some failed or were cancelled (each named with its reason) or the
timeout passed first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import parse_sensitivity, print_json

if TYPE_CHECKING:
    from orchestrator.engine.batch import BatchItem
    from orchestrator.queue import Job, JobQueue
    from orchestrator.types import Sensitivity

Check = Callable[[dict[str, Any], dict[str, "Sensitivity"]], tuple[dict[str, Any], dict[str, "Sensitivity"]]]
"""What ``submit`` checks a job with: (inputs, levels) -> the checked (inputs, levels), or raises."""

SUBMIT_CHUNK = 500
"""Jobs submitted at once (one script call per shard; the batch list is extended after each)."""
REPORTED = 20
"""Bad rows (or failed jobs) named in full; the rest are counted."""


BULK_OPTIONS = (
    ("--input-file", "PATH", "queue one job per row of a .jsonl or .csv file (columns = inputs; an 'id' column "
                             "names the item); a bad row refuses the file, nothing queued"),
    ("--batch", "ID", "with --input-file: the batch id (default: a new one); the same id again resumes"),
)


def add_bulk_options(submit: argparse.ArgumentParser) -> None:
    for flag, metavar, text in BULK_OPTIONS:
        submit.add_argument(flag, metavar=metavar, help=text)


def add_wait_parser(actions: Any, common: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    wait: argparse.ArgumentParser = actions.add_parser(
        "wait", help="follow jobs (or a batch) until all finish; non-zero if some failed")
    wait.add_argument("job_ids", nargs="*", metavar="JOB_ID", help="the ids `submit` printed")
    wait.add_argument("--batch", metavar="ID", help="every job of the batch `submit --input-file` printed")
    wait.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long (exit 1)")
    common(wait)
    return wait


async def submit_file(args: argparse.Namespace, queue: JobQueue, check: Check) -> int:
    """Check every row of ``args.input_file``, then queue them all as one batch (see the module)."""
    from orchestrator.errors import InputError
    from orchestrator.interfaces.cli._inputs import parse_inputs

    jobs = _checked_rows(args, parse_inputs(args.input), parse_sensitivity(args.sensitivity), check)
    if not jobs:
        raise InputError(f"{args.input_file}: no rows to submit")
    batch = args.batch or uuid.uuid4().hex[:12]
    ids: list[str] = []
    for start in range(0, len(jobs), SUBMIT_CHUNK):
        part = jobs[start:start + SUBMIT_CHUNK]
        queued = await asyncio.gather(*(queue.submit(args.target, inputs, sensitivity=dict(levels) or None,
                                                     idempotency_key=f"{batch}:{item.id}")
                                        for item, inputs, levels in part))
        await queue.add_to_batch(batch, queued)
        ids += queued
    if args.json:
        print_json({"batch": batch, "job_ids": ids})
    else:
        print(batch, flush=True)
        print(f"queued {len(ids)} jobs as batch {batch}; follow them: orchestrator jobs wait --batch {batch}",
              file=sys.stderr, flush=True)
    if not args.wait:
        return 0
    return await wait_jobs(queue, ids, timeout=args.timeout, as_json=args.json)


def _checked_rows(args: argparse.Namespace, shared: dict[str, Any], levels: dict[str, Sensitivity],
                  check: Check) -> list[tuple[BatchItem, dict[str, Any], dict[str, Sensitivity]]]:
    """Every row checked, or InputError naming each bad row's line (nothing is queued then)."""
    from orchestrator.engine.batch_files import read_items
    from orchestrator.errors import InputError, UserError

    items = list(read_items(args.input_file))  # a malformed row raises here, naming its line
    checked: list[tuple[BatchItem, dict[str, Any], dict[str, Sensitivity]]] = []
    refused: list[str] = []
    seen: dict[str, int | None] = {}
    for item in items:
        if item.id in seen:
            refused.append(f"line {item.line}: id {item.id!r} again (first on line {seen[item.id]}); ids name one "
                           "row each")
            continue
        seen[item.id] = item.line
        try:
            checked.append((item, *check({**shared, **item.inputs}, levels)))
        except UserError as exc:
            refused.append(f"line {item.line}: {exc}")
    if refused:
        more = f"\n  ... and {len(refused) - REPORTED} more" if len(refused) > REPORTED else ""
        raise InputError(f"{args.input_file}: {len(refused)} of {len(items)} rows refused, nothing queued:\n  "
                         + "\n  ".join(refused[:REPORTED]) + more)
    return checked


async def run_wait(args: argparse.Namespace, queue: JobQueue) -> int:
    """``orchestrator jobs wait``."""
    from orchestrator.errors import UserError

    if bool(args.job_ids) == bool(args.batch):
        raise UserError("jobs wait: give job ids or --batch ID (one of the two)")
    ids = list(args.job_ids) if args.job_ids else await queue.batch_jobs(args.batch)
    return await wait_jobs(queue, ids, timeout=args.timeout, as_json=args.json)


async def wait_jobs(queue: JobQueue, ids: list[str], *, timeout: float | None,  # noqa: ASYNC109
                    as_json: bool) -> int:
    """Follow ``ids`` to their end with a progress line; 0 if all completed, else 1."""
    from orchestrator.engine.batch import BatchProgress
    from orchestrator.errors import JobError
    from orchestrator.interfaces.cli.batch import LiveLine

    live = LiveLine(sys.stderr) if sys.stderr.isatty() else None
    progress = BatchProgress(total=len(ids))
    failed: list[Job] = []

    async def finished(job: Job) -> None:
        run = await queue.store.get_run(job.run_id) if job.status in ("completed", "failed") else None
        progress.done += 1
        if run is not None:
            progress.cost_usd += run.cost.cost_usd
            progress.saving_usd += run.cost.saving_usd
        if job.status != "completed":
            progress.failed += 1
            failed.append(job)
        if as_json:
            print(json.dumps({"job_id": job.id, "status": job.status, "error": job.error,
                              "answer": run.answer if run is not None else None}, default=str), flush=True)
        if live is not None:
            live.show(progress.line())

    try:
        await queue.wait(ids, timeout=timeout, on_finished=finished)
    except JobError as exc:
        if live is not None:
            live.finish()
        print(f"{progress.line()}\nerror: {exc}", file=sys.stderr)
        return 1
    if live is not None:
        live.finish()
    print(progress.line(), file=sys.stderr)
    for job in failed[:REPORTED]:
        print(f"{job.id} {job.status}: {job.error or 'no reason recorded'}", file=sys.stderr)
    if len(failed) > REPORTED:
        print(f"... and {len(failed) - REPORTED} more not completed", file=sys.stderr)
    return 1 if failed else 0


__all__ = ["BULK_OPTIONS", "Check", "add_bulk_options", "add_wait_parser", "run_wait", "submit_file", "wait_jobs"]
