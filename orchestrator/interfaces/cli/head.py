"""``orchestrator head fit``: train the classifier's embedding head on labelled examples.

::

    orchestrator head fit train.csv --model embed --out heads/intents.json

then set ``[specialists.classifier] options = { mode = "head", head_path = "heads/intents.json" }``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from orchestrator.interfaces.cli._common import add_config_options, load_settings, print_json


def register(subparsers: Any) -> None:
    head = subparsers.add_parser("head", help="train the classifier's embedding head on labelled examples")
    sub = head.add_subparsers(dest="head_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit a head on a CSV (header row) or JSONL file of text and label")
    fit.add_argument("examples", help="the labelled examples: .csv with a header row, or .jsonl")
    fit.add_argument("--model", required=True, help="the embedding model (a configured name or a ref)")
    fit.add_argument("--out", required=True, metavar="PATH", help="where to save the head (JSON)")
    fit.add_argument("--text-column", default="text", help="the column (CSV) or key (JSONL) with the text")
    fit.add_argument("--label-column", help="default: the first of label, category, intent")
    fit.add_argument("--json", action="store_true", help="machine-readable output")
    add_config_options(fit)
    fit.set_defaults(func=_fit)


def _fit(args: argparse.Namespace) -> int:
    return asyncio.run(_fit_async(args))


async def _fit_async(args: argparse.Namespace) -> int:
    from orchestrator.agents import EmbeddingHead
    from orchestrator.models.spec import create_model

    settings = load_settings(args)
    model = create_model(settings.model_spec(args.model))
    started = time.perf_counter()
    try:
        head = await EmbeddingHead.fit_from_file(args.examples, model, text_column=args.text_column,
                                                 label_column=args.label_column)
    finally:
        await model.aclose()
    head.save(args.out)
    summary = {"path": args.out, "labels": len(head.labels), "dims": head.dims, "embedder": head.embedder,
               "backend": head.backend, "seconds": round(time.perf_counter() - started, 2)}
    if args.json:
        print_json(summary)
    else:
        print(f"saved {args.out}: {summary['labels']} labels, {summary['dims']}-dim {head.embedder} embeddings, "
              f"{head.backend} fit in {summary['seconds']} s")
    return 0


__all__ = ["register"]
