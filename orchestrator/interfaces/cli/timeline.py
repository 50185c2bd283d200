"""``orchestrator jobs show`` and ``orchestrator runs show``: a run's steps as bars over time.

Both read the run's record (through the queue's Redis) and draw its timeline
(:mod:`orchestrator.telemetry.timeline`): waiting, escalated and running stretches of each step,
with its model, local or cloud, tokens and cost; ``--json`` prints the timeline's data.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import add_config_options, print_json

if TYPE_CHECKING:
    from orchestrator.queue import JobQueue
    from orchestrator.types import RunResult


def add_commands(subparsers: Any, job_actions: Any) -> None:
    """``jobs show`` under ``job_actions``, and the ``runs`` command with ``show``."""
    show = job_actions.add_parser("show", help="a job's record and its run's timeline")
    show.add_argument("job_id", help="the id `submit` printed")
    _options(show)
    show.set_defaults(func=run_job_show)
    runs = subparsers.add_parser("runs", help="inspect stored runs")
    actions = runs.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_show = actions.add_parser("show", help="a stored run's timeline: each step's bar over time")
    run_show.add_argument("run_id", help="the run id (a queued job's run id is its job id)")
    _options(run_show)
    run_show.set_defaults(func=run_run_show)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=40, help="columns of the bars (default 40)")
    parser.add_argument("--json", action="store_true", help="the timeline as JSON")
    add_config_options(parser)


def _print(result: RunResult, args: argparse.Namespace) -> None:
    from orchestrator.telemetry.timeline import render_text, timeline

    line = timeline(result)
    if args.json:
        print_json(line.model_dump(mode="json"))
    else:
        print(f"run {line.run_id}  {line.status}  {line.duration_ms:.0f} ms  ${line.cost_usd:.6f}")
        print(render_text(line, width=max(args.width, 10)))


def run_job_show(args: argparse.Namespace) -> int:
    """``orchestrator jobs show``: the job's status line, then its run's timeline once it ran."""
    from orchestrator.interfaces.cli.jobs import _job_line, _with_queue

    async def go(queue: JobQueue) -> int:
        job = await queue.status(args.job_id)
        if not args.json:
            print(_job_line(job))
        run = await queue.run_record(args.job_id)
        if run is None:
            print(f"no run recorded yet (the job is {job.status})")
            return 0 if not job.finished else 1
        _print(run, args)
        return 0

    return _with_queue(args, go)


def run_run_show(args: argparse.Namespace) -> int:
    """``orchestrator runs show``."""
    from orchestrator.errors import UserError
    from orchestrator.interfaces.cli.jobs import _with_queue

    async def go(queue: JobQueue) -> int:
        run = await queue.store.get_run(args.run_id)
        if run is None:
            raise UserError(f"no run {args.run_id!r} is stored (runs are kept for queue.result_ttl seconds)")
        _print(run, args)
        return 0

    return _with_queue(args, go)


__all__ = ["add_commands", "run_job_show", "run_run_show"]
