"""The classifier measured through ``Orchestrator.evaluate`` on Banking77 and CLINC150 (read by path).

* **Banking77**, full test set (3,080 messages, 77 intents): the trained head on
  all-MiniLM-L6-v2 fitted on ``train_k10_seed0.csv`` (10 examples per intent, as
  ``bench/banking77.py``); accuracy answering everything, and the share answered locally at the
  threshold keeping local accuracy >= 95% (``calibration.threshold_for`` via ``--target-accuracy``).
* **CLINC150** out-of-scope: a head fitted on 10 in-scope examples per intent (the first 10 of
  each in ``data_full.json`` train); the threshold keeping in-scope local accuracy >= 95% on the
  4,500 in-scope test queries, and the share of the 1,000 out-of-scope test queries it escalates
  (their confidence is below it), which should be high: an OOS query answered locally is wrong.

No large model is reachable here, so nothing is escalated *to*: the classifier's cascade is the
local model alone (threshold 0), and the figures are the local model's own answers; the
escalated share is what a threshold would send to a larger model.

    python -m bench.evaluation [--data ../shared/data] [--only banking77,clinc150] [--html DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.agents import EmbeddingHead  # noqa: E402
from orchestrator.engine.app import Orchestrator  # noqa: E402
from orchestrator.evaluation import EvalReport  # noqa: E402
from orchestrator.evaluation.html import render  # noqa: E402
from orchestrator.evaluation.report import Calibration  # noqa: E402
from orchestrator.models.spec import create_model  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402

TARGET = 0.95
EMBED = "st:all-minilm-l6-v2"
NOTE = "no large model reachable: the cascade is the local model alone; 'escalated' = below the threshold"


def orchestrator(head_path: Path) -> Orchestrator:
    settings = Settings.load(profile="embedded", specialists={"classifier": {
        "cascade": ["embed"], "threshold": 0.0, "options": {"mode": "head", "head_path": str(head_path)}}})
    return Orchestrator(settings)


async def fit(train: Path, out: Path) -> float:
    model = create_model(Settings.load(profile="embedded").model_spec("embed"))
    started = time.perf_counter()
    try:
        head = await EmbeddingHead.fit_from_file(train, model)
    finally:
        await model.aclose()
    head.save(out)
    return time.perf_counter() - started


async def evaluate(head: Path, dataset: Path, concurrency: int, column: str = "label") -> EvalReport:
    async with orchestrator(head) as orch:
        return await orch.evaluate("classifier", dataset, expect=[f"label={column}"], inputs=["text=text"],
                                   concurrency=concurrency, target_accuracy=TARGET)


def coverage_at(calibration: Calibration, threshold: float) -> float:
    """The share of items with confidence >= ``threshold`` (answered locally there)."""
    return max((p.coverage for p in calibration.curve if p.threshold >= threshold), default=0.0)


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _calibration(report: EvalReport) -> Calibration:
    c = report.fields[0].calibration
    assert c is not None, "the classifier gave no confidences"
    return c


async def banking77(data: Path, tmp: Path, concurrency: int, html: Path | None) -> dict[str, Any]:
    folder = data / "banking77"
    seconds = await fit(folder / "train_k10_seed0.csv", tmp / "b77-head.json")
    report = await evaluate(tmp / "b77-head.json", folder / "test.csv", concurrency, column="category")
    if html:
        (html / "banking77.html").write_text(render(report), encoding="utf-8")
    c = _calibration(report)
    return {"dataset": "banking77 test.csv (full), head fitted on train_k10_seed0.csv", "items": report.items,
            "fit_seconds": round(seconds, 2), "accuracy_all_local": round(c.accuracy, 4), "ece": round(c.ece, 4),
            "target_accuracy": TARGET, "threshold": c.threshold,
            "local_share_at_target": round(c.coverage_at_threshold or 0.0, 4),
            "local_accuracy_at_target": round(c.accuracy_at_threshold or 0.0, 4),
            "latency_p50_ms": round(report.latency_p50_ms, 1), "latency_p95_ms": round(report.latency_p95_ms, 1),
            "seconds": round(report.seconds, 1), "note": NOTE}


async def clinc150(data: Path, tmp: Path, concurrency: int, html: Path | None) -> dict[str, Any]:
    full = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    per_intent: dict[str, list[str]] = {}
    for text, intent in full["train"]:
        per_intent.setdefault(intent, []).append(text)
    train = write_csv(tmp / "clinc-train.csv", [(t, i) for i, texts in per_intent.items() for t in texts[:10]])
    in_scope = write_csv(tmp / "clinc-test.csv", [(t, i) for t, i in full["test"]])
    oos = write_csv(tmp / "clinc-oos.csv", [(t, "oos") for t, _ in full["oos_test"]])
    seconds = await fit(train, tmp / "clinc-head.json")
    inside = await evaluate(tmp / "clinc-head.json", in_scope, concurrency)
    outside = await evaluate(tmp / "clinc-head.json", oos, concurrency)
    if html:
        (html / "clinc150.html").write_text(render(inside), encoding="utf-8")
    c_in, c_out = _calibration(inside), _calibration(outside)
    threshold = c_in.threshold
    escalated = None if threshold is None else 1.0 - coverage_at(c_out, threshold)
    return {"dataset": "clinc150 data_full.json: head on 10 train examples per in-scope intent; test 4500 in-scope "
                       "+ 1000 oos_test", "fit_seconds": round(seconds, 2),
            "in_scope_accuracy_all_local": round(c_in.accuracy, 4), "target_accuracy": TARGET,
            "threshold": threshold, "in_scope_local_share_at_target": round(c_in.coverage_at_threshold or 0.0, 4),
            "in_scope_local_accuracy_at_target": round(c_in.accuracy_at_threshold or 0.0, 4),
            "oos_escalated_at_threshold": None if escalated is None else round(escalated, 4),
            "seconds": round(inside.seconds + outside.seconds, 1), "note": NOTE}


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data")
    parser.add_argument("--only", default="banking77,clinc150")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--html", type=Path, help="write each dataset's HTML report into this folder")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/evaluation.json")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.html:
        args.html.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            runner = {"banking77": banking77, "clinc150": clinc150}[name]
            results[name] = await runner(args.data, Path(tmp), args.concurrency, args.html)
            print(json.dumps({name: results[name]}, indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return results


if __name__ == "__main__":
    asyncio.run(main())
