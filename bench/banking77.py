"""Banking77 intent classification with the classifier specialist on all-MiniLM-L6-v2.

Fits the trained head on ``train_k10_seed0.csv`` (10 examples per intent), scores it
on ``test_sample300_seed0.csv``, and also scores zero-shot embedding classification
with the label names as descriptions. Prints accuracy and per-item latency and
writes ``bench/results/banking77.json``.

    python bench/banking77.py [--data DIR] [--model st:all-minilm-l6-v2] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.agents import Classifier, EmbeddingHead  # noqa: E402
from orchestrator.agents._head import read_examples  # noqa: E402
from orchestrator.agents.classifier import ClassifierInput  # noqa: E402
from orchestrator.models.base import Model  # noqa: E402
from orchestrator.models.spec import ModelSpec, create_model  # noqa: E402
from orchestrator.specialist import SpecialistConfig  # noqa: E402

DEFAULT_DATA = ROOT / "../shared/data/banking77"


async def evaluate(classifier: Classifier, model: Model, texts: list[str], gold: list[str],
                   labels: list[str]) -> dict[str, Any]:
    """Accuracy and per-item latency of ``classifier`` on ``model``, one item at a time."""
    latencies: list[float] = []
    correct = 0
    confidences: list[float] = []
    for text, answer in zip(texts, gold, strict=True):
        request = ClassifierInput.model_validate({"text": text, "labels": labels})
        started = time.perf_counter()
        verdict = await classifier.attempt(request, model)
        latencies.append((time.perf_counter() - started) * 1000)
        output = verdict.output
        label = getattr(output, "label", None)
        correct += label == answer
        confidences.append(verdict.confidence)
    ordered = sorted(latencies)
    return {
        "items": len(texts),
        "accuracy": round(correct / len(texts), 4),
        "latency_ms_median": round(statistics.median(ordered), 2),
        "latency_ms_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "mean_confidence": round(sum(confidences) / len(confidences), 4),
    }


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the Banking77 CSVs")
    parser.add_argument("--model", default="st:all-minilm-l6-v2", help="embedding model reference")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N test items")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/banking77.json")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    model = create_model(ModelSpec(ref=args.model))
    train_path = args.data / "train_k10_seed0.csv"
    texts, gold = read_examples(args.data / "test_sample300_seed0.csv")
    if args.limit:
        texts, gold = texts[: args.limit], gold[: args.limit]
    labels = sorted(set(read_examples(train_path)[1]))
    await model.embed(["warm-up"])  # load the encoder outside the timings

    started = time.perf_counter()
    head = await EmbeddingHead.fit_from_file(train_path, model)
    fit_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        head_path = Path(tmp) / "banking77-head.json"
        head.save(head_path)
        head_classifier = Classifier(SpecialistConfig(options={"mode": "head", "head_path": str(head_path)}))
        head_result = await evaluate(head_classifier, model, texts, gold, labels)
    zero_shot = Classifier(SpecialistConfig(options={"mode": "embedding"}))
    zero_result = await evaluate(zero_shot, model, texts, gold, labels)
    await model.aclose()

    result = {
        "dataset": "banking77 test_sample300_seed0 (train_k10_seed0 for the head)",
        "model": args.model,
        "labels": len(labels),
        "head": {**head_result, "fit_seconds": round(fit_seconds, 2), "backend": head.backend},
        "zero_shot_embedding": zero_result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"model {args.model}, {len(labels)} labels, {len(texts)} test items")
    for name in ("head", "zero_shot_embedding"):
        r = result[name]
        print(f"{name:>20}: accuracy {r['accuracy']:.1%}  median {r['latency_ms_median']:.1f} ms/item  "
              f"p95 {r['latency_ms_p95']:.1f} ms/item")
    print(f"written to {args.out}")
    return result


if __name__ == "__main__":
    asyncio.run(main())
