"""Start-up time: ``orchestrator --help`` vs ``python -c pass``, each in a fresh subprocess.

The median of several runs of each, alternating. The target is the absolute wall time of
``orchestrator --help`` (under 0.5 s); the ratio shows what our imports add to a bare
interpreter start.

    python -m bench.startup [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench._common import Row, median, report

NAME = "startup"
TIMEOUT_S = 60


def orchestrator_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m orchestrator``."""
    script = Path(sys.executable).with_name("orchestrator")
    if script.exists():
        return [str(script)]
    found = shutil.which("orchestrator")
    return [found] if found else [sys.executable, "-m", "orchestrator"]


def wall(command: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_")}
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=TIMEOUT_S, env=env)
    return time.perf_counter() - started


def measure(runs: int = 9) -> list[Row]:
    help_cmd = [*orchestrator_command(), "--help"]
    bare_cmd = [sys.executable, "-c", "pass"]
    wall(help_cmd)  # warm the file cache and bytecode
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(runs):
        ours.append(wall(help_cmd))
        bare.append(wall(bare_cmd))
    help_s, bare_s = median(ours), median(bare)
    extra = {"runs": runs, "command": " ".join(help_cmd), "min_s": min(ours), "max_s": max(ours),
             "import_cost_s": help_s - bare_s}
    return [Row(NAME, "orchestrator --help", help_s, "s", bare_s, "python -c pass", "< 0.5 s", help_s < 0.5,
                extra=extra)]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv)
    rows = measure(args.runs)
    report(NAME, rows)
    return rows


if __name__ == "__main__":
    main()
