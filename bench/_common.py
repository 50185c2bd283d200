"""What every benchmark shares: result rows, the table, the JSON file, timing helpers."""

from __future__ import annotations

import json
import logging
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One measured figure, ours beside its baseline."""

    bench: str
    metric: str
    ours: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    """The goal in words, e.g. ``ratio <= 1.5``."""
    ok: bool | None = None
    """Whether the target was met (``None``: no target)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        return self.ours / self.baseline


def quiet_logging() -> None:
    """Benchmarks measure the library, not a terminal printing log lines."""
    import structlog

    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def table(rows: Sequence[Row]) -> str:
    """A plain-text table of ``rows``."""
    header = ("bench", "metric", "ours", "baseline", "ratio", "unit", "target", "ok")
    body = [(r.bench, r.metric, fmt(r.ours), fmt(r.baseline) + (f" ({r.baseline_name})" if r.baseline_name else ""),
             "-" if r.ratio is None else f"{r.ratio:.2f}x", r.unit, r.target,
             {True: "yes", False: "NO", None: ""}[r.ok]) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for package in ("langgraph", "redis", "pydantic"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "?"
    return {"python": sys.version.split()[0], "platform": platform.platform(), "machine": platform.machine(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **versions}


def save(name: str, rows: Sequence[Row], details: dict[str, Any] | None = None) -> Path:
    """Write ``bench/results/<name>.json``: the rows (with ratios), details and the environment."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"bench": name, "environment": environment(),
               "rows": [{**asdict(r), "ratio": r.ratio} for r in rows], "details": details or {}}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def report(name: str, rows: Sequence[Row], details: dict[str, Any] | None = None) -> None:
    """Print the table and write the JSON file."""
    print(table(rows))
    print(f"\nwrote {save(name, rows, details)}")
