"""``orchestrator distill``: fit a specialist on its collected examples; list versions; roll back.

::

    orchestrator distill                      # fit the classifier; promote if no worse on held-out examples
    orchestrator distill versions             # every version: data hash, examples, accuracy, date, live
    orchestrator distill --rollback [--to v0002]
    orchestrator distill --write-config [PATH]  # also write a promoted version's threshold into the configuration

Examples come from the deployment's example store (``[learning] enabled = true``: a larger model's
answers after escalations, and feedback); versions live in ``[learning] versions_dir``.
``--write-config`` writes the threshold a version was calibrated to (the one keeping 95% accuracy
on its held-out examples) as ``[specialists.<name>] threshold``, with the TOML editing ``eval
--write-config`` uses: after a promotion (nothing when the candidate was not promoted or no
threshold held the target), or for the version a ``--rollback`` makes live.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.interfaces.cli._common import (
    add_config_options,
    build_orchestrator,
    config_path,
    print_json,
    warn_overrides,
)

if TYPE_CHECKING:
    from orchestrator.learning import VersionInfo


def register(subparsers: Any) -> None:
    distill = subparsers.add_parser("distill", help="fit a specialist on collected examples; versions, rollback")
    distill.add_argument("action", nargs="?", choices=["fit", "versions"], default="fit",
                         help="fit (default): fit and maybe promote; versions: list the versions")
    distill.add_argument("--specialist", default="classifier", help="the specialist to distill (default: classifier)")
    distill.add_argument("--rollback", action="store_true", help="make the previous promoted version live again")
    distill.add_argument("--to", metavar="VERSION", help="with --rollback: the version to make live (e.g. v0002)")
    distill.add_argument("--write-config", nargs="?", const="", metavar="PATH",
                         help="write the live version's calibrated threshold into PATH (default: --config, else "
                              "./orchestrator.toml) when it was promoted or rolled back to")
    distill.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(distill)
    distill.set_defaults(func=_distill)


def _distill(args: argparse.Namespace) -> int:
    return asyncio.run(_distill_async(args))


async def _distill_async(args: argparse.Namespace) -> int:
    from orchestrator.errors import InputError

    if args.to and not args.rollback:
        raise InputError("--to names the version to roll back to; add --rollback")
    if args.write_config is not None and args.action == "versions":
        raise InputError("--write-config writes the threshold of a version made live: use it with a fit "
                         "(`orchestrator distill --write-config`) or with --rollback")
    orch = build_orchestrator(args)
    try:
        learning = orch.learning
        if args.rollback:
            info = learning.rollback(args.specialist, args.to)
            written = _write_config(args, info) if args.write_config is not None else None
            _show({"rolled_back_to": info.version, "specialist": args.specialist, "threshold_written_to": written},
                  args.json, f"{args.specialist}: {info.version} is live again (from {info.date})"
                  + _written(info, written, args.write_config is not None))
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
            wanted = args.write_config is not None
            written = _write_config(args, info) if wanted and report.promoted else None
            _show({"specialist": args.specialist, "version": info.version, "promoted": report.promoted,
                   "reason": report.reason, "live_path": str(report.live_path), "audited": report.audited,
                   "audited_agreement": report.audited_agreement, "threshold_written_to": written,
                   **info.model_dump()}, args.json,
                  f"{args.specialist} {info.version} {verdict}: {report.reason}; fitted on {info.examples} examples "
                  f"in {info.fit_seconds:.2f} s (data {info.data_hash}); live artefact {report.live_path}"
                  + _threshold(info, wanted) + _audits(report.audited, report.audited_agreement)
                  + _written(info, written, wanted))
    finally:
        await orch.aclose()
    return 0


def _audits(audited: int, agreement: float | None) -> str:
    if agreement is None:
        return ""
    return f"\nlocal answers agreeing with the teacher on {audited} audited steps: {agreement:.1%}"


def _threshold(info: VersionInfo, writing: bool) -> str:
    if info.threshold is None:
        return ""
    return (f"\nthreshold for {info.target_accuracy:.0%} held-out accuracy: {info.threshold:.3f} (answers "
            f"{info.threshold_coverage:.0%} of them locally)"
            + ("" if writing else f"; set [specialists.{info.specialist}] threshold (or add --write-config)"))


def _write_config(args: argparse.Namespace, info: VersionInfo) -> str | None:
    """Write ``info``'s calibrated threshold into the configuration; the file's path, None without one."""
    from orchestrator.evaluation.thresholds import write_thresholds

    if info.threshold is None:
        return None
    path = config_path(args)
    day = datetime.now(UTC).date().isoformat()
    note = (f"{day}, distilled {info.version} (data {info.data_hash}), {info.held_out} held-out examples, "
            f"target accuracy {info.target_accuracy:g}: {info.threshold_coverage or 0:.0%} of them local")
    write_thresholds(path, {info.specialist: info.threshold}, note, profile=args.profile)
    warn_overrides(args, path, {info.specialist: info.threshold})
    return str(path)


def _written(info: VersionInfo, path: str | None, wanted: bool) -> str:
    if not wanted:
        return ""
    if path is not None:
        return f"\nthreshold {info.threshold:.4f} written to {path} ([specialists.{info.specialist}])"
    if not info.promoted:
        return "\nthreshold not written: this version was not promoted (the live one keeps its threshold)"
    return (f"\nthreshold not written: none kept {info.target_accuracy:.0%} accuracy on the held-out examples "
            f"({info.held_out}); collect more examples")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _show(data: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        print_json(data)
    else:
        print(text)


__all__ = ["register"]
