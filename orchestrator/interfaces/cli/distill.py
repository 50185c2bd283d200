"""``orchestrator distill``: fit a specialist on its collected examples; list versions; roll back.

::

    orchestrator distill                      # fit the classifier; promote if no worse on held-out examples
    orchestrator distill versions             # every version: data hash, examples, accuracy, date, live
    orchestrator distill --rollback [--to v0002]

Examples come from the deployment's example store (``[learning] enabled = true``: a larger model's
answers after escalations, and feedback); versions live in ``[learning] versions_dir``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import add_config_options, build_orchestrator, print_json

if TYPE_CHECKING:
    from orchestrator.learning import VersionInfo


def register(subparsers: Any) -> None:
    distill = subparsers.add_parser("distill", help="fit a specialist on collected examples; versions, rollback")
    distill.add_argument("action", nargs="?", choices=["fit", "versions"], default="fit",
                         help="fit (default): fit and maybe promote; versions: list the versions")
    distill.add_argument("--specialist", default="classifier", help="the specialist to distill (default: classifier)")
    distill.add_argument("--rollback", action="store_true", help="make the previous promoted version live again")
    distill.add_argument("--to", metavar="VERSION", help="with --rollback: the version to make live (e.g. v0002)")
    distill.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(distill)
    distill.set_defaults(func=_distill)


def _distill(args: argparse.Namespace) -> int:
    return asyncio.run(_distill_async(args))


async def _distill_async(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    if args.to and not args.rollback:
        raise InputError("--to names the version to roll back to; add --rollback")
    orch = build_orchestrator(args)
    try:
        learning = orch.learning
        if args.rollback:
            info = learning.rollback(args.specialist, args.to)
            _show({"rolled_back_to": info.version, "specialist": args.specialist}, args.json,
                  f"{args.specialist}: {info.version} is live again (from {info.date})")
        elif args.action == "versions":
            versions = learning.versions(args.specialist)
            rows, live = versions.list(), versions.current()
            data = [{**v.model_dump(), "date": v.date, "live": v.version == live} for v in rows]
            lines = [f"{'':1} {'version':8} {'date':23} {'examples':>8} {'held out':>8} {'accuracy':>8} "
                     f"{'was live':>8}  data hash"]
            lines += [f"{'*' if v.version == live else ' '} {v.version:8} {v.date:23} {v.examples:>8} {v.held_out:>8} "
                      f"{_pct(v.accuracy):>8} {_pct(v.current_accuracy):>8}  {v.data_hash}" for v in rows]
            _show({"specialist": args.specialist, "live": live, "versions": data}, args.json,
                  "\n".join(lines) if rows else f"{args.specialist} has no versions yet; run `orchestrator distill`")
        else:
            report = await orch.distill(args.specialist)
            info = report.version
            verdict = "promoted" if report.promoted else "kept, not promoted"
            _show({"specialist": args.specialist, "version": info.version, "promoted": report.promoted,
                   "reason": report.reason, "live_path": str(report.live_path), "audited": report.audited,
                   "audited_agreement": report.audited_agreement, **info.model_dump()}, args.json,
                  f"{args.specialist} {info.version} {verdict}: {report.reason}; fitted on {info.examples} examples "
                  f"in {info.fit_seconds:.2f} s (data {info.data_hash}); live artefact {report.live_path}"
                  + _threshold(info) + _audits(report.audited, report.audited_agreement))
    finally:
        await orch.aclose()
    return 0


def _audits(audited: int, agreement: float | None) -> str:
    if agreement is None:
        return ""
    return f"\nlocal answers agreeing with the teacher on {audited} audited steps: {agreement:.1%}"


def _threshold(info: VersionInfo) -> str:
    if info.threshold is None:
        return ""
    return (f"\nthreshold for {info.target_accuracy:.0%} held-out accuracy: {info.threshold:.3f} (answers "
            f"{info.threshold_coverage:.0%} of them locally); set [specialists.{info.specialist}] threshold")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _show(data: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        print_json(data)
    else:
        print(text)


__all__ = ["register"]
