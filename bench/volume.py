"""High volume: ticket_triage tickets/s at concurrency 1, 8 and 32 on the embedded profile.

Real customer messages (the first ``--limit`` rows of Banking77's ``test.csv``, read from
``--data``; nothing is copied into the repository) go through ``Orchestrator.run_many`` on
the embedded profile (all-MiniLM-L6-v2 and Gemma 3 270M, in this process), after a warm-up.
Side by side in the same run:

- the floor: one batched encode on the same encoder, done directly, of the ticket texts, and of
  the same model work (the distinct texts the workflow embeds for those tickets: the
  classifier's and summarizer's sentences), each as tickets per second;
- the same workflow shape as a plain LangGraph graph (screen, then category, urgency,
  fields and summary in parallel, then routing) whose nodes call the same specialists and
  tools on the same models, run with the graph's own ``abatch`` at the same concurrency.

Writes ``bench/results/volume.json``.

Each figure is the median of ``--rounds`` rounds; a round measures both sides and the floor
in turn, so load from other jobs on a shared machine falls on both sides alike. Beside
throughput, each side's CPU time per ticket (this process, all threads, and the encoder's
processes: the encoder's passes and the engine's work) is reported: it is the figure a busy
shared machine disturbs least. Both sides use the profile's encoder (one encoder process per CPU, at most 4,
unless ``--processes`` says otherwise; 0 runs the passes in a thread of this process, as before).

    python -m bench.volume [--data DIR] [--limit 64] [--concurrency 1,8,32] [--rounds 3] [--processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import operator
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypedDict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import Row, median, quiet_logging, report  # noqa: E402
from orchestrator.engine.app import Orchestrator  # noqa: E402
from orchestrator.engine.registry import Registry  # noqa: E402
from orchestrator.models.pool import ModelPool  # noqa: E402
from orchestrator.models.sentence import SentenceTransformerModel, pids  # noqa: E402
from orchestrator.models.spec import ModelSpec  # noqa: E402
from orchestrator.plan import Plan  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from orchestrator.specialist import Specialist  # noqa: E402

NAME = "volume"
DEFAULT_DATA = next((p for p in (ROOT / "../shared/data/banking77", Path("/work/shared/data/banking77"))
                     if p.is_dir()), ROOT / "../shared/data/banking77")
"""Beside the checkout (``../shared/data``), else the machine's shared data folder."""
WORKFLOW = "ticket_triage"


def read_texts(data: Path, limit: int) -> list[str]:
    """The first ``limit`` customer messages of Banking77's test split."""
    path = data / "test.csv"
    if not path.is_file():
        raise SystemExit(f"no Banking77 test.csv under {data} (see its SOURCE.md); pass --data DIR")
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for _, row in zip(range(limit), csv.DictReader(handle), strict=False)]


async def forget(model: Any) -> None:
    """Start a measurement with an empty text cache: every round embeds its tickets anew."""
    if isinstance(model, SentenceTransformerModel):
        (await model.batcher()).forget()


def cpu_seconds(model: Any = None) -> float:
    """CPU time so far of this process, every thread (user and system), and of ``model``'s
    encoder processes when it has any (read from ``/proc``)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    for pid in pids(model) if isinstance(model, SentenceTransformerModel) else []:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


async def ours(orch: Orchestrator, texts: list[str], concurrency: int) -> tuple[float, int, float]:
    """Tickets per second through ``run_many``, how many failed, and CPU milliseconds per ticket."""
    encoder = orch.pool.client("embed")
    await forget(encoder)
    started, cpu = time.perf_counter(), cpu_seconds(encoder)
    results = [r async for r in orch.run_many(WORKFLOW, [{"ticket": t} for t in texts], concurrency=concurrency)]
    rate = len(results) / (time.perf_counter() - started)
    return rate, sum(not r.ok for r in results), (cpu_seconds(encoder) - cpu) * 1000 / len(texts)


async def embedded_texts(orch: Orchestrator, texts: list[str]) -> list[str]:
    """The distinct texts one run of ``texts`` asks the encoder for (the same model work)."""
    encoder = orch.pool.client("embed")
    asked: dict[str, None] = {}
    original = encoder.embed

    async def recording(batch: Sequence[str]) -> list[list[float]]:
        asked.update(dict.fromkeys(batch))
        return await original(batch)

    encoder.embed = recording  # type: ignore[method-assign, assignment]
    try:
        await ours(orch, texts, 32)
    finally:
        del encoder.embed  # the class's method again
    return list(asked)


async def floor(texts: list[str]) -> float:
    """Texts per second of one batched encode of all ``texts`` on the same encoder (no orchestrator)."""
    model = SentenceTransformerModel(ModelSpec(ref="st:all-minilm-l6-v2",  # sentence-transformers in this process
                                               options={"max_batch": len(texts), "cache_size": 0, "processes": 0}))
    await model.embed(["warm-up"])
    started = time.perf_counter()
    await model.embed(texts)
    rate = len(texts) / (time.perf_counter() - started)
    await model.aclose()
    return rate


class _State(TypedDict, total=False):
    ticket: str
    text: str
    suspected_injection: bool
    results: Annotated[dict[str, Any], operator.or_]


def langgraph_triage(plan: Plan, registry: Registry, pool: ModelPool, cascades: dict[str, str]) -> Any:
    """ticket_triage's shape as a plain LangGraph graph: each node calls the step's agent directly."""
    from langgraph.graph import END, START, StateGraph

    steps = {step.id: step for step in plan.steps}
    graph: StateGraph[_State] = StateGraph(_State)

    async def call(step_id: str, inputs: dict[str, Any]) -> Any:
        step = steps[step_id]
        agent = registry.agent(step.agent)
        request = agent.Input.model_validate({**step.params, **inputs})
        if isinstance(agent, Specialist):
            verdict = await agent.attempt(request, pool.client(cascades[agent.name]), instruction=step.instruction)
            return verdict.output
        return await agent(request)

    async def screen(state: _State) -> dict[str, Any]:
        out = await call("screen", {"text": state["ticket"]})
        return {"text": out.text, "suspected_injection": out.suspected_injection}

    def model_node(step_id: str) -> Any:
        async def node(state: _State) -> dict[str, Any]:
            return {"results": {step_id: await call(step_id, {"text": state["text"]})}}

        return node

    async def routing(state: _State) -> dict[str, Any]:
        r = state["results"]
        out = await call("routing", {"category": r["category"].label, "urgency": r["urgency"].label,
                                     "fields": r["fields"].data, "suspected_injection": state["suspected_injection"]})
        return {"results": {"routing": out}}

    graph.add_node("screen", screen)
    graph.add_node("routing", routing)
    graph.add_edge(START, "screen")
    parallel = ["category", "urgency", "fields", "summary"]
    for step_id in parallel:
        graph.add_node(step_id, model_node(step_id))
        graph.add_edge("screen", step_id)
    graph.add_edge(parallel, "routing")
    graph.add_edge("routing", END)
    return graph.compile()


class PlainLangGraph:
    """The plain graph on its own registry and models, run with ``abatch``."""

    def __init__(self, settings: Settings):
        self.registry = Registry.from_entry_points(settings.specialists, origin=settings.origin)
        self.pool = ModelPool(settings.models)
        plan = self.registry.workflow(WORKFLOW).compile(self.registry.agent_names)
        self.cascades = {name: settings.specialists[name].cascade[0]
                         for name in ("classifier", "extractor", "summarizer")}
        self.graph = langgraph_triage(plan, self.registry, self.pool, self.cascades)

    async def rate(self, texts: list[str], concurrency: int) -> tuple[float, float]:
        """Tickets per second of one ``abatch`` over ``texts``, and CPU milliseconds per ticket."""
        encoder = self.pool.client(self.cascades["classifier"])
        await forget(encoder)
        started, cpu = time.perf_counter(), cpu_seconds(encoder)
        await self.graph.abatch([{"ticket": t} for t in texts], config={"max_concurrency": concurrency})
        return len(texts) / (time.perf_counter() - started), (cpu_seconds(encoder) - cpu) * 1000 / len(texts)


async def measure(texts: list[str], concurrencies: list[int], rounds: int,
                  encoder_options: dict[str, Any] | None = None) -> tuple[list[Row], dict[str, Any]]:
    """Each round measures ours, then the plain graph, at every concurrency, then the floor:
    the figures are medians over rounds, so a neighbour's burst on a shared machine hits one
    round of each side rather than one side. ``encoder_options`` change the embedded profile's
    encoder for both sides (e.g. ``{"processes": 0}``)."""
    settings = Settings.load(profile="embedded")
    settings.models["embed"].options.update(encoder_options or {})
    samples: dict[str, dict[int, list[float]]] = {side: {c: [] for c in concurrencies}
                                                  for side in ("ours", "graph", "ours_cpu", "graph_cpu")}
    failures: dict[int, int] = dict.fromkeys(concurrencies, 0)
    floors: list[float] = []
    work_floors: list[float] = []
    plain = PlainLangGraph(settings)
    async with Orchestrator(settings) as orch:
        await ours(orch, texts[:4], 4)  # warm-up: load the models
        await plain.graph.abatch([{"ticket": t} for t in texts[:4]])
        encoder = orch.pool.client("embed")
        work = await embedded_texts(orch, texts)
        for _ in range(rounds):
            for concurrency in concurrencies:
                rate, failed, ticket_cpu = await ours(orch, texts, concurrency)
                samples["ours"][concurrency].append(rate)
                samples["ours_cpu"][concurrency].append(ticket_cpu)
                failures[concurrency] += failed
                graph_rate, graph_ticket_cpu = await plain.rate(texts, concurrency)
                samples["graph"][concurrency].append(graph_rate)
                samples["graph_cpu"][concurrency].append(graph_ticket_cpu)
            floors.append(await floor(texts))
            work_floors.append(await floor(work) * len(texts) / len(work))  # tickets/s
        stats = (await encoder.batcher()).stats if isinstance(encoder, SentenceTransformerModel) else None
    await plain.pool.aclose()
    rates, graph_rates, cpu, graph_cpu = ({c: median(v) for c, v in samples[side].items()}
                                          for side in ("ours", "graph", "ours_cpu", "graph_cpu"))
    direct, direct_work = median(floors), median(work_floors)

    low, high = min(concurrencies), max(concurrencies)
    rows = [Row(NAME, f"tickets/s, concurrency {c}", rates[c], "tickets/s", baseline=rates[low],
                baseline_name=f"concurrency {low}", target=">= 5x" if c == high else "",
                ok=rates[c] >= 5 * rates[low] if c == high else None, extra={"failed": failures[c]})
            for c in concurrencies]
    rows.append(Row(NAME, f"concurrency {high} vs direct batched encode", rates[high], "tickets/s",
                    baseline=direct, baseline_name="one encode, texts/s", target="ratio >= 0.5",
                    ok=rates[high] >= direct / 2))
    rows.append(Row(NAME, f"concurrency {high} vs direct batched encode of the same texts", rates[high], "tickets/s",
                    baseline=direct_work, baseline_name=f"one encode of {len(work)} texts, tickets/s",
                    target="ratio >= 0.5", ok=rates[high] >= direct_work / 2))
    rows += [Row(NAME, f"vs plain LangGraph abatch, concurrency {c}", rates[c], "tickets/s",
                 baseline=graph_rates[c], baseline_name="LangGraph abatch", target="ratio > 1" if c == high else "",
                 ok=rates[c] > graph_rates[c] if c == high else None) for c in concurrencies]
    rows += [Row(NAME, f"CPU per ticket vs plain LangGraph, concurrency {c}", cpu[c], "ms (all threads)",
                 baseline=graph_cpu[c], baseline_name="LangGraph abatch") for c in concurrencies]
    details = {"texts": len(texts), "rounds": rounds, "encoder_options": settings.models["embed"].options,
               "ours": rates, "langgraph_abatch": graph_rates,
               "cpu_ms_per_ticket": {"ours": cpu, "langgraph_abatch": graph_cpu},
               "floor_texts_per_s": direct, "floor_same_work_tickets_per_s": direct_work,
               "texts_embedded_per_ticket": len(work) / len(texts), "failures": failures, "samples": samples,
               "floor_samples": floors, "floor_same_work_samples": work_floors}
    if stats is not None:
        details["embedding_passes"] = stats.passes
        details["texts_encoded"] = stats.encoded
        details["texts_answered_without_encoding"] = stats.cached
        details["mean_pass_size"] = stats.encoded / stats.passes if stats.passes else 0
    return rows, details


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.volume", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with Banking77's test.csv")
    parser.add_argument("--limit", type=int, default=64, help="messages per measurement")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrencies")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per figure (the median is reported)")
    parser.add_argument("--processes", type=int, default=None,
                        help="encoder processes for both sides (0: in this process; default: the profile's)")
    args = parser.parse_args(argv)
    quiet_logging()
    texts = read_texts(args.data, args.limit)
    concurrencies = sorted({int(c) for c in args.concurrency.split(",")})
    options = {} if args.processes is None else {"processes": args.processes}
    rows, details = asyncio.run(measure(texts, concurrencies, max(1, args.rounds), options))
    report(NAME, rows, details)
    return rows


if __name__ == "__main__":
    main()
