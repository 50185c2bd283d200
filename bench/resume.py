"""A 10,000-row batch file: runs to the end with a live progress line, stops on Ctrl-C, resumes.

``orchestrator run ticket_triage --input-file tickets.jsonl --output results.jsonl`` runs in a
subprocess over ``--rows`` tickets (real customer messages from Banking77's ``test.csv``, read
from ``--data`` and cycled; ids ``t0`` ...), its stderr on a pseudo-terminal so the live
progress line is drawn as a user sees it. After ``--stop-after`` results are written it gets
SIGINT (Ctrl-C); the same command then runs again and must finish the rest. Checked: the
first run exits 130 saying how to resume, the second exits 0, the results file holds every
id exactly once (nothing lost, nothing run twice), and progress frames were drawn.

By default the models are the scripted triage models of the batch CLI tests
(``tests.interfaces.test_cli_batch``, instant keyword answers), so the figure is the engine's
own rate over a long batch: the resumed run's items/s against the first run's (a rate that
sagged as the batch grew, e.g. from state kept per finished run, would show as a ratio below
1), and the peak memory. ``--models embedded`` runs the embedded profile's real models instead
(all-MiniLM-L6-v2 and Gemma 3 270M in the CLI's process) over distinct messages (Banking77's
``train.csv`` then ``test.csv``): the 10,000-row file as a user would run it.

Writes ``bench/results/resume.json`` (``resume_embedded.json`` with ``--models embedded``).

    python -m bench.resume [--rows 10000] [--stop-after 2000] [--concurrency 32] [--data DIR]
                           [--models scripted|embedded]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import pty
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import Row, report  # noqa: E402
from bench.volume import DEFAULT_DATA  # noqa: E402

NAME = "resume"
CONFIGS = {
    "scripted": ('default_cascade = ["small"]\n[models.small]\nref = "python:tests.interfaces.test_cli_batch:triage"\n'
                 "concurrency = 64\n"),
    "embedded": 'profile = "embedded"\n',
}
MODELS = {
    "scripted": "scripted triage models (tests.interfaces.test_cli_batch:triage); no real model is called",
    "embedded": "the embedded profile's real models: all-MiniLM-L6-v2 and Gemma 3 270M in the CLI's process",
}
FRAME = re.compile(r"(\d+)/(\d+) items +([\d.]+)/s")
"""A progress frame: ``120/10000 items  14.2/s ...``."""


def write_items(path: Path, data: Path, rows: int, splits: tuple[str, ...] = ("test",)) -> None:
    """``rows`` tickets, Banking77 messages of ``splits`` in turn, cycled (synthetic lines when the
    data is absent)."""
    sources = [data / f"{split}.csv" for split in splits]
    if all(source.is_file() for source in sources):
        texts = []
        for source in sources:
            with source.open(encoding="utf-8", newline="") as handle:
                texts += [row["text"] for row in csv.DictReader(handle)]
    else:
        texts = [f"My parcel ORD-{n} has not arrived, please help." for n in range(100)]
    with path.open("w", encoding="utf-8") as out:
        for n, text in zip(range(rows), itertools.cycle(texts), strict=False):
            out.write(json.dumps({"id": f"t{n}", "ticket": text}) + "\n")


def lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def run_cli(workdir: Path, concurrency: int, stop_after: int | None, timeout: float) -> dict[str, Any]:
    """One CLI run with stderr on a pty; SIGINT once ``stop_after`` results are written."""
    out = workdir / "results.jsonl"
    before = lines(out)
    command = [sys.executable, "-m", "orchestrator", "run", "ticket_triage", "--input-file",
               str(workdir / "tickets.jsonl"), "--output", str(out), "--concurrency", str(concurrency),
               "--config", str(workdir / "orchestrator.toml")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_") and k != "REDIS_URL"}
    env["PYTHONPATH"] = str(ROOT)
    leader, follower = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=follower,
                            preexec_fn=_interruptible)
    os.close(follower)
    screen, interrupted, reading = b"", False, True
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if reading and select.select([leader], [], [], 0.2)[0]:
            try:
                screen += os.read(leader, 65536)
            except OSError:  # the child closed its end
                reading = False
        elif not reading:
            time.sleep(0.2)
        if stop_after is not None and not interrupted and lines(out) - before >= stop_after:
            proc.send_signal(signal.SIGINT)
            interrupted = True
    if proc.poll() is None:
        proc.kill()
        raise SystemExit(f"the batch did not end within {timeout:g}s")
    proc.wait()
    elapsed = time.perf_counter() - started
    while reading and select.select([leader], [], [], 0)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    text = screen.decode("utf-8", "replace")
    frames = FRAME.findall(text)
    written = lines(out) - before
    rate = float(frames[-1][2]) if frames else written / elapsed  # the CLI's own rate: no process start-up
    return {"exit": proc.returncode, "written": written, "seconds": elapsed, "items_per_s": rate,
            "progress_frames": len(frames), "last_frame": " ".join(frames[-1]) if frames else None,
            "said_resume": "run the same command again to resume" in text, "tail": text[-300:]}


def _interruptible() -> None:
    """Ctrl-C reaches the batch as at a terminal, even when this benchmark runs in the background
    (a shell starts background jobs with SIGINT ignored, and the child would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.resume", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="items in the batch file")
    parser.add_argument("--stop-after", type=int, default=2_000, help="results written before Ctrl-C")
    parser.add_argument("--concurrency", type=int, default=32, help="items in flight")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Banking77's test.csv")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds each run may take at most")
    parser.add_argument("--models", choices=sorted(CONFIGS), default="scripted",
                        help="scripted triage models (the engine alone) or the embedded profile's real models")
    args = parser.parse_args(argv)
    if not 0 < args.stop_after < args.rows:
        raise SystemExit("--stop-after must be between 0 and --rows")
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        workdir = Path(tmp)
        splits = ("train", "test") if args.models == "embedded" else ("test",)
        write_items(workdir / "tickets.jsonl", args.data, args.rows, splits)
        (workdir / "orchestrator.toml").write_text(CONFIGS[args.models])
        first = run_cli(workdir, args.concurrency, args.stop_after, args.timeout)
        second = run_cli(workdir, args.concurrency, None, args.timeout)
        results = [json.loads(line) for line in (workdir / "results.jsonl").read_text().splitlines()]
    ids = [r["id"] for r in results]
    failures = [{"id": r["id"], "error": r.get("error")} for r in results if not r["ok"]]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    complete = len(ids) == args.rows and len(set(ids)) == args.rows
    second_failed = sum(not r["ok"] for r in results[first["written"]:])  # the lines the resumed run wrote
    explained = all(f["error"] for f in failures)  # a failed item says why (e.g. a low-confidence step)
    stopped = first["exit"] == 130 and first["said_resume"] and first["written"] < args.rows
    rows = [
        Row(NAME, f"{args.rows} rows: every id recorded exactly once after Ctrl-C + resume", float(len(set(ids))),
            "ids", baseline=float(args.rows), baseline_name="rows", target="ratio = 1, no duplicate",
            ok=complete, extra={"lines": len(ids), "failed": len(failures)}),
        Row(NAME, "Ctrl-C: exit 130, says how to resume", float(first["exit"]), "exit code", target="130",
            ok=stopped, extra={"written_before_stop": first["written"]}),
        Row(NAME, "resumed run: exit 0, or 1 with each failed item's reason in the file", float(second["exit"]),
            "exit code", target="0 / 1", ok=second["exit"] == (1 if second_failed else 0) and explained,
            extra={"written": second["written"], "failed": second_failed}),
        Row(NAME, "live progress frames drawn (both runs)",
            float(first["progress_frames"] + second["progress_frames"]), "frames", target="> 0",
            ok=first["progress_frames"] > 0 and second["progress_frames"] > 0,
            extra={"last_frame": second["last_frame"]}),
        Row(NAME, "items/s, resumed run vs first run", second["items_per_s"], "items/s",
            baseline=first["items_per_s"], baseline_name="first run (before Ctrl-C)"),
        Row(NAME, "peak memory of a batch process", peak_mb, "MB"),
    ]
    details = {"rows": args.rows, "concurrency": args.concurrency, "first": first, "second": second,
               "models": MODELS[args.models], "failures": failures[:10]}
    report(NAME if args.models == "scripted" else f"{NAME}_{args.models}", rows, details)
    return rows


if __name__ == "__main__":
    main()
