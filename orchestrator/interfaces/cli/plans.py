"""``orchestrator plans list|show|clear``: the plan cache of the deployment.

The cache keeps the plans of successful planned runs (:mod:`orchestrator.planning.cache`); on
Redis (``redis_url``) it is shared by every worker and these commands see it; without Redis
it lives in each process and there is nothing to show between commands.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import add_app_option, add_config_options, build_orchestrator, print_json

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.planning import PlanCache


def register(subparsers: Any) -> None:
    plans = subparsers.add_parser("plans", help="list, show or clear the cached plans of earlier runs")
    sub = plans.add_subparsers(dest="plans_command", metavar="ACTION", required=True)
    for name, text in (("list", "the cached plans, most recently used first"), ("show", "one cached plan"),
                       ("clear", "remove every cached plan")):
        action = sub.add_parser(name, help=text)
        if name == "show":
            action.add_argument("key", help="the entry's key (from `orchestrator plans list`), or its first characters")
        if name != "clear":
            action.add_argument("--json", action="store_true", help="machine-readable output")
        add_app_option(action)
        add_config_options(action)
        action.set_defaults(func=_plans)


def _plans(args: argparse.Namespace) -> int:
    return asyncio.run(_plans_async(args))


async def _plans_async(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    orch = build_orchestrator(args)
    async with orch:
        cache = _cache(orch)
        if args.plans_command == "clear":
            print(f"removed {await cache.clear()} cached plans")
            return 0
        entries = await cache.entries()
        if args.plans_command == "list":
            if args.json:
                print_json([{k: v for k, v in vars(e).items() if k != "plan"} for e in entries])
            for entry in [] if args.json else entries:
                age = time.time() - entry.created_at
                print(f"{entry.key[:12]}  {len(entry.plan.get('steps', [])):>2} steps  {entry.hits:>4} hits  "
                      f"{age / 3600:>6.1f} h  {' '.join(entry.keywords)}")
            if not entries and not args.json:
                print("no cached plans" + ("" if orch.settings.redis_url else _IN_PROCESS))
            return 0
        found = [e for e in entries if e.key.startswith(args.key)]
        if len(found) != 1:
            what = "no cached plan" if not found else f"{len(found)} cached plans"
            raise InputError(f"{what} with a key starting {args.key!r}; `orchestrator plans list` shows the keys")
        if args.json:
            print_json(vars(found[0]))
        else:
            from orchestrator.interfaces.chat import describe_plan

            entry = found[0]
            print(f"key {entry.key}; keywords: {' '.join(entry.keywords)}; inputs: "
                  f"{', '.join(f'{n} ({t})' for n, t in entry.inputs) or 'none'}; catalog {entry.catalog}")
            print(describe_plan(entry.plan))
    return 0


_IN_PROCESS = " (without redis_url the cache lives in each process: set REDIS_URL to share and inspect it)"


def _cache(orch: Orchestrator) -> PlanCache:
    from orchestrator.errors import ConfigError

    cache = orch.planning.cache
    if cache is None:
        raise ConfigError("the plan cache is off ([planner] cache = false)", key="planner.cache")
    return cache


__all__ = ["register"]
