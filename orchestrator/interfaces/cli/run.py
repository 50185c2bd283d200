"""``orchestrator run``, ``orchestrator workflows``, ``orchestrator agents``."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import (
    Progress,
    add_app_option,
    add_config_options,
    add_input_options,
    build_orchestrator,
    parse_sensitivity,
    print_json,
    print_result,
)
from orchestrator.interfaces.cli.batch import add_batch_options, run_batch

if TYPE_CHECKING:
    from orchestrator.types import Sensitivity


def register(subparsers: Any) -> None:
    run = subparsers.add_parser("run", help="run a workflow or a free-form task",
                                description="Run a workflow by name, or plan and run a free-form task.")
    add_input_options(run)
    add_app_option(run)
    run.add_argument("--run-id", help="resume (or name) this run")
    run.add_argument("--json", action="store_true", help="print the whole RunResult as JSON")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    run.add_argument("--timeline", action="store_true", help="also draw the run's steps as bars over time")
    add_batch_options(run)
    add_config_options(run)
    run.set_defaults(func=_run)

    workflows = subparsers.add_parser("workflows", help="list the registered workflows")
    workflows.add_argument("--json", action="store_true", help="machine-readable output")
    add_app_option(workflows)
    add_config_options(workflows)
    workflows.set_defaults(func=_workflows)

    agents = subparsers.add_parser("agents", help="list the registered specialists and tools")
    agents.add_argument("--json", action="store_true", help="machine-readable output")
    add_app_option(agents)
    add_config_options(agents)
    agents.set_defaults(func=_agents)


def _run(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError
    from orchestrator.interfaces.cli._inputs import parse_inputs

    if args.input_file:
        if args.input or args.run_id or args.json:
            raise InputError("--input-file gives every run its inputs; it does not combine with "
                             "--input, --run-id or --json (the results are JSON lines already)")
        return run_batch(args)
    if args.output:
        raise InputError("--output needs --input-file (a single run prints its result; use --json)")
    inputs = parse_inputs(args.input)
    return asyncio.run(_run_async(args, inputs, parse_sensitivity(args.sensitivity)))


async def _run_async(args: argparse.Namespace, inputs: dict[str, Any], levels: dict[str, Sensitivity]) -> int:
    from orchestrator.models.loading import recording_loads

    orch = build_orchestrator(args)
    async with orch:
        progress = None if args.quiet or args.json else Progress()
        with recording_loads(on_start=progress.loading if progress else None):
            result = await orch.run(args.target, inputs, run_id=args.run_id, sensitivity=levels, events=progress)
    if args.json:
        print_json(result.model_dump(mode="json"))
    else:
        print_result(result)
        if args.timeline:
            from orchestrator.telemetry import render_text, timeline

            print()
            print(render_text(timeline(result)))
    return 0 if result.ok else 1


def _workflows(args: argparse.Namespace) -> int:
    orch = build_orchestrator(args)
    workflows = orch.registry.workflows()
    if args.json:
        print_json([{"name": w.name, "description": w.description,
                     "inputs": {n: i.description or i.type.__name__ for n, i in w.inputs.items()}}
                    for w in workflows])
        return 0
    for w in workflows:
        print(f"{w.name:<20} {w.description}")
        for name, spec in w.inputs.items():
            print(f"{'':<20}   --input {name}=...  {spec.description or spec.type.__name__}")
    return 0


def _agents(args: argparse.Namespace) -> int:
    orch = build_orchestrator(args)
    catalog = [info.model_dump() for info in orch.registry.catalog()]
    if args.json:
        print_json(catalog)
        return 0
    for info in catalog:
        print(f"{info['name']:<14} {info['kind']:<11} {info['description'].splitlines()[0][:90]}")
    return 0
