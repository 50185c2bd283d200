"""SROIE receipts: the extractor's heuristics, its learned span ranker, and the ranker with Gemma.

Trains the span ranker on SROIE's train split (626 receipts), evaluates on the test
split (361) read by path from ``../shared/data/sroie``, and reports per-field accuracy
(company, date, total, address), all three of company/date/total right, the share of
fields escalated to the model, and seconds per receipt (median, p95), for:

- ``heuristics``: the hand-written priors, no model asked (today's grounded ranking);
- ``ranker``: the learned ranker, its first span taken (the share escalated is the share of
  fields under ``ranker_confidence``, which a deployment would send to the model);
- ``ranker+gemma``: the ranker with Gemma 3 270M (llama.cpp, in-process) choosing among the
  ranked spans where the ranker is unsure, on the first ``--gemma-limit`` test receipts.

Scoring (issue 16): company and address equal after lower-casing and keeping letters and
digits only; the date is the same calendar day; the total is the same amount.

    python bench/sroie.py [--data DIR] [--gemma-limit 60] [--no-gemma]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ itself is first on the path and its queue.py would shadow the standard queue
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]

from bench._common import Row, median, p95, quiet_logging, report  # noqa: E402
from orchestrator.agents._ranker import FitOptions, LabelledDocument, SpanRanker, read_labelled  # noqa: E402
from orchestrator.agents._span_features import Document, candidate_pool, same_value, token_f1  # noqa: E402
from orchestrator.agents.extractor import Extractor, ExtractorInput  # noqa: E402
from orchestrator.models.base import Model  # noqa: E402
from orchestrator.models.scripted import FunctionModel, ScoreCall  # noqa: E402
from orchestrator.specialist import SpecialistConfig  # noqa: E402

DEFAULT_DATA = next((p for p in (ROOT / "../shared/data/sroie", ROOT / "../../shared/data/sroie") if p.is_dir()),
                    ROOT / "../shared/data/sroie")
"""``../shared/data/sroie`` beside the checkout (or beside its worktrees folder)."""
FIELDS: dict[str, Any] = {
    "company": {"type": "string", "description": "Name of the shop or company that issued the receipt."},
    "date": {"type": "string", "format": "date", "description": "Date of the purchase, as written."},
    "address": {"type": "string", "description": "The shop's postal address."},
    "total": {"type": "number", "description": "The final amount paid, tax included (the grand total)."},
}
KINDS: dict[str, Any] = {"company": "company", "date": "date", "address": "address", "total": "money"}
ALL_THREE = ("company", "date", "total")
WORDY = ("company", "address")
"""Fields also scored by word F1: OCR drops lines of many labelled addresses, so exact match is capped."""


class CountingScorer:
    """A model that scores every option alike (the ranking decides) and counts how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0
        self.questions: list[str] = []
        self.model = FunctionModel(lambda call: "{}", ref="bench:uniform", scorer=self._score)

    def _score(self, call: ScoreCall) -> list[float]:
        self.calls += 1
        self.questions.append(call.prompt.rsplit("Question: ", 1)[-1])
        return [0.0] * len(call.options)

    def asked(self, since: int) -> set[str]:
        """The fields asked about since question number ``since``."""
        return {name for name, spec in FIELDS.items()
                if any(spec["description"] in q for q in self.questions[since:])}


async def evaluate(extractor: Extractor, model: Model, docs: Sequence[LabelledDocument],
                   asked: CountingScorer | None = None) -> dict[str, Any]:
    """Per-field and all-three accuracy, and seconds per receipt, one receipt at a time."""
    right = dict.fromkeys(FIELDS, 0)
    overlap = dict.fromkeys(WORDY, 0.0)
    wrong_though_sure = dict.fromkeys(FIELDS, 0)
    all_three = 0
    seconds: list[float] = []
    for doc in docs:
        request = ExtractorInput(text=doc.text, fields={"properties": FIELDS})
        since = len(asked.questions) if asked is not None else 0
        started = time.perf_counter()
        verdict = await extractor.attempt(request, model)
        seconds.append(time.perf_counter() - started)
        data = verdict.output.model_dump()["data"] if verdict.output is not None else {}
        ok = {name: same_value(data.get(name), doc.fields.get(name), KINDS[name]) for name in FIELDS}
        unsure = asked.asked(since) if asked is not None else set()
        for name in WORDY:
            overlap[name] += token_f1(data.get(name) or "", doc.fields.get(name) or "")
        for name, good in ok.items():
            right[name] += good
            wrong_though_sure[name] += not good and name not in unsure
        all_three += all(ok[name] for name in ALL_THREE)
    n = len(docs)
    result: dict[str, Any] = {f"{name}_accuracy": right[name] / n for name in FIELDS}
    result |= {f"{name}_f1": overlap[name] / n for name in WORDY}
    result |= {"all_three": all_three / n, "receipts": n, "seconds_median": median(seconds),
               "seconds_p95": p95(seconds)}
    if asked is not None:
        result["escalated"] = asked.calls / (n * len(FIELDS))
        result["wrong_though_sure"] = {name: count / n for name, count in wrong_though_sure.items()}
    return result


def reachable(docs: Sequence[LabelledDocument]) -> dict[str, float]:
    """Per field, the share of documents where some candidate span equals the label: the ceiling
    of exact-match accuracy for any extractor that copies spans of this OCR text."""
    found = dict.fromkeys(FIELDS, 0)
    for doc in docs:
        parsed = Document(doc.text)
        for name in FIELDS:
            gold = doc.fields.get(name)
            found[name] += any(same_value(s.value, gold, KINDS[name]) for s in candidate_pool(parsed, KINDS[name]))
    return {name: count / len(docs) for name, count in found.items()}


def rows_for(name: str, result: dict[str, Any]) -> list[Row]:
    rows = [Row(f"sroie/{name}", f"{field} accuracy", result[f"{field}_accuracy"], "share",
                target=">= 0.90", ok=result[f"{field}_accuracy"] >= 0.9) for field in FIELDS]
    rows += [Row(f"sroie/{name}", f"{field} word F1", result[f"{field}_f1"], "share") for field in WORDY]
    rows.append(Row(f"sroie/{name}", "all three right", result["all_three"], "share", target=">= 0.80",
                    ok=result["all_three"] >= 0.8))
    if "escalated" in result:
        rows.append(Row(f"sroie/{name}", "fields escalated", result["escalated"], "share"))
    for field, share in result.get("wrong_though_sure", {}).items():
        rows.append(Row(f"sroie/{name}", f"{field} wrong, not escalated", share, "share"))
    rows.append(Row(f"sroie/{name}", "median per receipt", result["seconds_median"], "s", target="<= 0.5",
                    ok=result["seconds_median"] <= 0.5))
    rows.append(Row(f"sroie/{name}", "p95 per receipt", result["seconds_p95"], "s", target="<= 2",
                    ok=result["seconds_p95"] <= 2))
    return rows


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with SROIE's *_text_entities.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N test receipts")
    parser.add_argument("--gemma-limit", type=int, default=60, help="test receipts for the ranker+gemma row")
    parser.add_argument("--no-gemma", action="store_true", help="skip the ranker+gemma row")
    parser.add_argument("--partial-credit", type=float, default=0.6,
                        help="word F1 a span needs to teach a field no span equals (0: exact matches only)")
    parser.add_argument("--confidence", type=float, default=0.8, help="the ranker_confidence option")
    args = parser.parse_args(argv)
    quiet_logging()
    train = read_labelled(args.data / "train_text_entities.jsonl")
    test = read_labelled(args.data / "test_text_entities.jsonl")
    if args.limit:
        test = test[: args.limit]
    results_ceiling = reachable(test)
    started = time.perf_counter()
    ranker = SpanRanker.fit(train, kinds=KINDS, hints={k: v["description"] for k, v in FIELDS.items()},
                            options=FitOptions(partial_credit=args.partial_credit or None))
    fit_seconds = time.perf_counter() - started
    results: dict[str, Any] = {"fit_seconds": fit_seconds, "train": len(train), "reachable": results_ceiling,
                               "coverage": {name: m.coverage for name, m in ranker.fields.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sroie-ranker.json"
        ranker.save(path)
        heuristics = Extractor(SpecialistConfig(options={"grounded": True, "decisive_margin": 0.0}))
        learned = Extractor(SpecialistConfig(options={"grounded": True, "ranker_path": str(path),
                                                      "ranker_confidence": args.confidence}))
        uniform = CountingScorer()
        results["heuristics"] = await evaluate(heuristics, CountingScorer().model, test)
        results["ranker"] = await evaluate(learned, uniform.model, test, uniform)
        if not args.no_gemma:
            results["ranker+gemma"] = await _with_gemma(learned, test[: args.gemma_limit])
    rows = [Row("sroie/data", f"{field} reachable (a span of the OCR text equals it)", share, "share")
            for field, share in results_ceiling.items()]
    rows += [row for name in ("heuristics", "ranker", "ranker+gemma") if name in results
             for row in rows_for(name, results[name])]
    report("sroie", rows, results)
    return results


async def _with_gemma(extractor: Extractor, docs: Sequence[LabelledDocument]) -> dict[str, Any]:
    from orchestrator.models.spec import ModelSpec, create_model

    model = create_model(ModelSpec(ref="llamacpp:gemma3-270m"))
    counted = _CountingWrapper(model)
    try:
        await counted.score(ScoreCall("warm-up", (" a", " b")))  # load the weights outside the timings
        counted.calls = 0
        result = await evaluate(extractor, counted.model, docs)
    finally:
        await model.aclose()
    result["escalated"] = counted.calls / (len(docs) * len(FIELDS))
    return result


class _CountingWrapper:
    """Gemma behind a FunctionModel whose scorer counts the fields it is asked about."""

    def __init__(self, model: Model) -> None:
        self.inner = model
        self.calls = 0
        self.model = FunctionModel(lambda call: "{}", ref=model.ref, scorer=self.score)

    async def score(self, call: ScoreCall) -> Any:
        self.calls += 1
        return await self.inner.score(call.prompt, list(call.options))  # type: ignore[attr-defined]


if __name__ == "__main__":
    asyncio.run(main())
