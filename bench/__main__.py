"""``python -m bench``: every available benchmark, one after another, then one table.

Each benchmark runs in its own subprocess (``python -m bench.<name>``), so models, event
loops and failures stay separate; the table is built from the ``bench/results/*.json``
files they write.

    python -m bench [--only overhead,parallelism] [--skip models]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

from bench._common import RESULTS, Row, table

ROOT = Path(__file__).resolve().parents[1]
#: In the order they run: the quick ones first, the model-loading ones last.
BENCHMARKS = ("overhead", "parallelism", "startup", "queue", "resume", "planning", "models", "banking77", "volume",
              "replicas", "generation", "sroie", "evaluation", "summaries")
TIMEOUT_S = 3600


def rows_of(name: str) -> list[Row]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if "rows" not in data:  # a benchmark with a format of its own
        return [Row(name, f"see {path.relative_to(ROOT)}", float("nan"), "")]
    fields = set(Row.__dataclass_fields__)
    return [Row(**{k: v for k, v in row.items() if k in fields}) for row in data["rows"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names to leave out")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    skipped = set(args.skip.split(",")) - {""}
    rows: list[Row] = []
    failed: list[str] = []
    for name in chosen:
        if name in skipped:
            continue
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"== {name}: not available, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.time()
        done = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, timeout=TIMEOUT_S, check=False)
        result = RESULTS / f"{name}.json"
        if done.returncode != 0 or not result.exists() or result.stat().st_mtime < started:
            failed.append(name)
            print(f"== {name}: failed (exit {done.returncode}) or wrote no results", flush=True)
            continue
        rows += rows_of(name)
    print("\n" + table(rows))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
