"""``orchestrator train extractor``: fit the extractor's span ranker on labelled documents.

::

    orchestrator train extractor receipts.jsonl --out rankers/receipts.json

reads a JSONL file of ``{"text": ..., "fields": {"company": ..., "total": ...}}`` (SROIE's
``entities`` key is read too) and saves the ranker as versioned JSON; then set
``[specialists.extractor] options = { ranker_path = "rankers/receipts.json" }``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from orchestrator.interfaces.cli._common import print_json


def register(subparsers: Any) -> None:
    train = subparsers.add_parser("train", help="train a learnable specialist on labelled examples")
    sub = train.add_subparsers(dest="train_command", metavar="SPECIALIST", required=True)
    extractor = sub.add_parser("extractor", help="fit the extractor's span ranker on a JSONL of {text, fields}")
    extractor.add_argument("examples", help="the labelled documents: JSONL, one {text, fields} object a line")
    extractor.add_argument("--out", required=True, metavar="PATH", help="where to save the ranker (JSON)")
    extractor.add_argument("--fields-key", help="the key holding the labelled fields (default: fields, entities)")
    extractor.add_argument("--schema", metavar="JSON",
                           help='the fields\' types or descriptions, e.g. \'{"total": "number", "vendor": '
                                '"the seller"}\' (default: kinds from the field names)')
    extractor.add_argument("--epochs", type=int, default=12, help="passes over the examples")
    extractor.add_argument("--json", action="store_true", help="machine-readable output")
    extractor.set_defaults(func=_train_extractor)


def _train_extractor(args: argparse.Namespace) -> int:
    from orchestrator.agents._ranker import FitOptions, SpanRanker, read_labelled
    from orchestrator.agents.extractor import ExtractorInput, field_specs
    from orchestrator.errors import InputError

    examples = read_labelled(args.examples, fields_key=args.fields_key)
    kinds: dict[str, Any] = {}
    hints: dict[str, str] = {}
    if args.schema:
        try:
            schema = json.loads(args.schema)
        except ValueError as exc:
            raise InputError(f"--schema is not JSON: {exc}") from exc
        for spec in field_specs(ExtractorInput(text="", fields=schema)):
            kinds[spec.name], hints[spec.name] = spec.kind, str(spec.schema.get("description", ""))
    started = time.perf_counter()
    ranker = SpanRanker.fit(examples, kinds=kinds, hints=hints, options=FitOptions(epochs=args.epochs))
    ranker.save(args.out)
    summary = {
        "path": args.out, "documents": len(examples), "seconds": round(time.perf_counter() - started, 2),
        "fields": {name: {"kind": m.kind, "coverage": m.coverage, "features": len(m.weights)}
                   for name, m in ranker.fields.items()},
    }
    if args.json:
        print_json(summary)
    else:
        print(f"saved {args.out}: {len(examples)} documents, fitted in {summary['seconds']} s")
        for name, m in ranker.fields.items():
            print(f"  {name} ({m.kind}): labelled value among the candidates in {m.coverage:.0%} of documents")
    return 0


__all__ = ["register"]
