"""``orchestrator models list`` and ``orchestrator models check``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from orchestrator.interfaces.cli._common import add_config_options, load_settings, print_json


def register(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="list the configured models or check they answer")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the configured models: ref, local or not, price, cascade use")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(listing)
    listing.set_defaults(func=_list)
    check = sub.add_parser("check", help="send each model a tiny request: capabilities, latency, failures")
    check.add_argument("names", nargs="*", help="only these model names (default: those a cascade or the planner uses)")
    check.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                       help="per model, loading included (default 60)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(check)
    check.set_defaults(func=_check)


def _list(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    rows: list[dict[str, Any]] = []
    for name, spec in sorted(settings.models.items()):
        used_by = [s for s, cfg in settings.specialists.items() if name in (cfg.cascade or settings.default_cascade)]
        if settings.planner.model == name:
            used_by.append("planner")
        rows.append({"name": name, "ref": spec.ref, "local": spec.is_local, "price_input": spec.price_input,
                     "price_output": spec.price_output, "used_by": used_by})
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        where = "local" if r["local"] else "cloud"
        print(f"{r['name']:<12} {r['ref']:<34} {where:<6} ${r['price_input']:g}/${r['price_output']:g} per 1M  "
              f"{', '.join(r['used_by'])}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from orchestrator.models.check import check_models
    from orchestrator.models.loading import recording_loads

    settings = load_settings(args)
    names = args.names or settings.used_models()
    specs = [settings.model_spec(n) for n in names]
    print(f"checking {len(specs)} model{'s' if len(specs) != 1 else ''} ...", file=sys.stderr, flush=True)

    def loading(ref: str) -> None:  # from a loader's thread; stderr keeps stdout clean for --json
        print(f"  loading {ref} (weights load on first use; this takes a few seconds) ...", file=sys.stderr,
              flush=True)

    with recording_loads(on_start=loading):
        results = asyncio.run(check_models(specs, timeout=args.timeout))
    if args.json:
        print_json([r.model_dump(mode="json") for r in results])
    else:
        for r in results:
            print(_check_line(r))
            for replica in r.replicas or ():  # a model with several endpoints: each one's state
                print(_replica_line(replica))
    return 0 if all(r.ok for r in results) else 1


def _replica_line(r: Any) -> str:
    state = f"ok   {r.latency_ms:>7.0f} ms" if r.ok else f"FAIL {r.reason}"
    return f"       replica {r.ref:<34} {state}"


def _check_line(r: Any) -> str:
    if not r.ok:
        return f"FAIL {r.name:<12} {r.ref:<34} {r.reason}"
    caps = r.capabilities
    loaded = f" (+{r.load_ms / 1000:.1f} s loading)" if r.load_ms else ""
    return (f"ok   {r.name:<12} {r.ref:<34} {r.latency_ms:>7.0f} ms{loaded}  structured={caps.structured_output} "
            f"embeddings={caps.embeddings} logprobs={caps.logprobs} ctx={caps.context_size} "
            f"{'local' if caps.local else 'cloud'}")
