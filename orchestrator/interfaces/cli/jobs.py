"""``orchestrator submit``, ``orchestrator worker`` and ``orchestrator jobs ...``.

The queue lives in Redis (``REDIS_URL``); every command here needs it. Heavy modules are
imported inside the command functions so ``orchestrator --help`` stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from orchestrator.interfaces.cli._common import (
    add_app_option,
    add_config_options,
    add_input_options,
    build_orchestrator,
    load_app,
    load_settings,
    parse_sensitivity,
    print_json,
    print_result,
)
from orchestrator.interfaces.cli.bulk import add_bulk_options, add_wait_parser, run_wait, submit_file

if TYPE_CHECKING:
    from orchestrator.interfaces.cli.bulk import Check
    from orchestrator.queue import Job, JobQueue, JobRunner
    from orchestrator.settings import Settings
    from orchestrator.types import Event, Sensitivity

JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled", "dead")


def register(subparsers: Any) -> None:
    """Add ``submit``, ``worker`` and ``jobs`` to the ``orchestrator`` command."""
    submit = subparsers.add_parser("submit", help="queue a workflow or task for the workers",
                                   description="Queue a job; prints its id.")
    add_input_options(submit)
    add_app_option(submit)
    submit.add_argument("--idempotency-key", metavar="KEY", help="submitting the same key again returns the same job")
    submit.add_argument("--wait", action="store_true", help="follow the job's events and print its result")
    submit.add_argument("--timeout", type=float, metavar="SECONDS", help="with --wait: give up after this long")
    add_bulk_options(submit)
    _common(submit)
    submit.set_defaults(func=run_submit)

    worker = subparsers.add_parser("worker", help="run queued jobs (until SIGTERM/SIGINT)")
    add_app_option(worker)
    worker.add_argument("--concurrency", type=int, metavar="N", help="jobs run at once (default: settings)")
    worker.add_argument("--name", help="consumer name (default: host-pid-random)")
    worker.add_argument("--grace", type=float, metavar="SECONDS",
                        help="on SIGTERM, how long in-flight jobs may finish before they are handed back")
    worker.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus /metrics on 127.0.0.1:PORT (default: telemetry.metrics_port, none)")
    worker.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                        help="info (the default) logs each job's start and end")
    add_config_options(worker)
    worker.set_defaults(func=run_worker)

    jobs = subparsers.add_parser("jobs", help="inspect and control queued jobs")
    actions = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="a job's record")
    status.add_argument("job_id", help="the id `submit` printed")
    _common(status)
    status.set_defaults(func=run_status)
    result = actions.add_parser("result", help="a finished job's result")
    result.add_argument("job_id", help="the id `submit` printed")
    result.add_argument("--wait", action="store_true", help="wait until the job finishes")
    result.add_argument("--timeout", type=float, metavar="SECONDS", help="with --wait: give up after this long")
    _common(result)
    result.set_defaults(func=run_result)
    events = actions.add_parser("events", help="a job's run events")
    events.add_argument("job_id", help="the id `submit` printed")
    events.add_argument("-f", "--follow", action="store_true", help="wait for new events until the run ends")
    events.add_argument("--after", metavar="CURSOR", help="only events after this cursor")
    events.add_argument("--timeout", type=float, metavar="SECONDS", help="with --follow: give up after this long")
    _common(events)
    events.set_defaults(func=run_events)
    cancel = actions.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("job_id", help="the id `submit` printed")
    _common(cancel)
    cancel.set_defaults(func=run_cancel)
    listing = actions.add_parser("list", help="the newest jobs")
    listing.add_argument("--status", choices=JOB_STATUSES, help="only jobs in this state")
    listing.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    _common(listing)
    listing.set_defaults(func=run_list)
    add_wait_parser(actions, _common).set_defaults(func=lambda args: _with_queue(args, partial(run_wait, args)))

    from orchestrator.interfaces.cli.timeline import add_commands  # jobs show, runs show

    add_commands(subparsers, actions)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(parser)


# -- commands -----------------------------------------------------------------


def run_submit(args: argparse.Namespace) -> int:
    """``orchestrator submit``."""
    from orchestrator.errors import UserError
    from orchestrator.interfaces.cli._inputs import parse_inputs

    if args.input_file:
        return _with_queue(args, lambda queue: submit_file(args, queue, _checker(args)))
    if args.batch:
        raise UserError("--batch names the batch of an --input-file; give --input-file too")
    inputs, levels = _checker(args)(parse_inputs(args.input), parse_sensitivity(args.sensitivity))

    async def go(queue: JobQueue) -> int:
        job_id = await queue.submit(args.target, inputs, sensitivity=dict(levels) or None,
                                    idempotency_key=args.idempotency_key)
        if not args.wait:
            if args.json:
                print_json({"job_id": job_id})
            else:
                print(job_id)
            return 0
        if not args.json:
            print(job_id, flush=True)
            await _print_events(queue, job_id, follow=True, after=None, timeout=args.timeout, as_json=False)
        result = await queue.result(job_id, wait=True, timeout=args.timeout)
        if args.json:
            print_json({"job_id": job_id, "result": result.model_dump(mode="json")})
        else:
            print_result(result)
        return 0 if result.ok else 1

    return _with_queue(args, go)


def _checker(args: argparse.Namespace) -> Check:
    """How ``submit`` checks a job: refuse what no worker could run, as ``Orchestrator.submit``
    does (a mistyped workflow name, inputs a workflow rejects). A free-form task (or a name only
    the workers' ``--app`` knows) is left to the workers, whose planner may be configured where
    this command's is not."""
    from orchestrator.errors import ConfigError

    orchestrator = build_orchestrator(args)

    def check(inputs: dict[str, Any], levels: dict[str, Sensitivity]) -> tuple[dict[str, Any], dict[str, Sensitivity]]:
        try:
            return orchestrator.check_submission(args.target, inputs, levels)
        except ConfigError as exc:
            if exc.key != "planner.model":
                raise
            return inputs, levels

    return check


def run_worker(args: argparse.Namespace) -> int:
    """``orchestrator worker``: process jobs until SIGTERM or SIGINT, then drain and exit 0."""
    return asyncio.run(_worker(args))


def run_status(args: argparse.Namespace) -> int:
    """``orchestrator jobs status``."""

    async def go(queue: JobQueue) -> int:
        job = await queue.status(args.job_id)
        if args.json:
            print_json(job.model_dump(mode="json"))
        else:
            print(_job_line(job))
            if job.error:
                print(f"error: {job.error}")
        return 0

    return _with_queue(args, go)


def run_result(args: argparse.Namespace) -> int:
    """``orchestrator jobs result``."""

    async def go(queue: JobQueue) -> int:
        result = await queue.result(args.job_id, wait=args.wait, timeout=args.timeout)
        if args.json:
            print_json(result.model_dump(mode="json"))
        else:
            print_result(result)
        return 0 if result.ok else 1

    return _with_queue(args, go)


def run_events(args: argparse.Namespace) -> int:
    """``orchestrator jobs events``."""

    async def go(queue: JobQueue) -> int:
        await _print_events(queue, args.job_id, follow=args.follow, after=args.after,
                            timeout=args.timeout, as_json=args.json)
        return 0

    return _with_queue(args, go)


def run_cancel(args: argparse.Namespace) -> int:
    """``orchestrator jobs cancel``."""

    async def go(queue: JobQueue) -> int:
        job = await queue.cancel(args.job_id)
        if args.json:
            print_json(job.model_dump(mode="json"))
        else:
            note = "" if job.finished else " (cancel requested; the worker stops it shortly)"
            print(f"{job.id} {job.status}{note}")
        return 0

    return _with_queue(args, go)


def run_list(args: argparse.Namespace) -> int:
    """``orchestrator jobs list``."""

    async def go(queue: JobQueue) -> int:
        jobs = await queue.list(status=args.status, limit=args.limit)
        if args.json:
            print_json([j.model_dump(mode="json") for j in jobs])
        else:
            for job in jobs:
                print(_job_line(job))
        return 0

    return _with_queue(args, go)


# -- helpers ------------------------------------------------------------------


def _open_queue(settings: Settings, **overrides: Any) -> JobQueue:
    from orchestrator.queue import JobQueue

    return JobQueue.from_settings(settings, **overrides)


def _with_queue(args: argparse.Namespace, body: Callable[[JobQueue], Awaitable[int]]) -> int:
    queue = _open_queue(load_settings(args))

    async def go() -> int:
        try:
            return await body(queue)
        finally:
            await queue.aclose()

    return asyncio.run(go())


async def _worker(args: argparse.Namespace) -> int:
    import signal

    from orchestrator import telemetry
    from orchestrator.queue import Worker

    settings = load_settings(args)
    queue = _open_queue(settings, **({} if args.grace is None else {"shutdown_grace": args.grace}))
    runner = await _load_runner(args.app, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        with telemetry.process_telemetry(settings.telemetry, metrics_port=args.metrics_port):
            telemetry.metrics.queue_depth_at_scrape(queue.depth, loop)
            await Worker(runner, queue, concurrency=args.concurrency, name=args.name).run(stop)
    finally:
        close = getattr(runner, "aclose", None)
        if close is not None:
            await close()
        await queue.aclose()
    return 0


async def _load_runner(app: str | None, settings: Settings) -> JobRunner:
    """The worker's runner: ``--app module:factory`` (an Orchestrator or any JobRunner), else an
    Orchestrator built from the settings."""
    from orchestrator.errors import ConfigError

    if app is None:
        from orchestrator.engine.app import Orchestrator

        return Orchestrator(settings)
    runner = load_app(app, settings)
    if inspect.isawaitable(runner):
        runner = await runner
    if not callable(getattr(runner, "run", None)):
        raise ConfigError(f"--app {app!r} returned {type(runner).__name__}, which has no async run()")
    return cast("JobRunner", runner)


async def _print_events(queue: JobQueue, job_id: str, *, follow: bool, after: str | None,
                        timeout: float | None, as_json: bool) -> None:  # noqa: ASYNC109
    from orchestrator.interfaces.cli._common import Progress

    progress = Progress()
    async for cursor, event in queue.events(job_id, after=after, follow=follow, timeout=timeout):
        if as_json:
            print(_event_json(cursor, event), flush=True)
        else:
            await progress.emit(event)
            if event.type in ("run.started", "run.finished", "run.failed"):
                print(f"{event.type} {_short(event.data)}".rstrip(), file=sys.stderr, flush=True)


def _event_json(cursor: str, event: Event) -> str:
    import json

    return json.dumps({"cursor": cursor, **event.model_dump(mode="json")}, default=str)


def _short(data: dict[str, Any]) -> str:
    error = data.get("error")
    return f"({data.get('status', 'failed')}: {error})" if error else ""


def _job_line(job: Job) -> str:
    target = job.target if len(job.target) <= 40 else job.target[:37] + "..."
    return f"{job.id}  {job.status:<9}  attempts={job.attempts}  {target}"


__all__ = ["register"]
