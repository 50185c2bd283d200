"""Framework overhead per step: our Executor vs a raw LangGraph graph, same checkpointer.

A plan of N no-op steps in a chain (each step reads the previous one's output) runs
through :class:`~orchestrator.engine.executor.Executor`, once with a tool step and once with a
specialist step whose model answers instantly; the baseline is a raw LangGraph
``StateGraph`` of N no-op nodes in a chain, compiled with the same kind of checkpointer
and invoked with the same durability. Both sides alternate within each round on the same
machine; the figure is µs per step (run time / N), the median over rounds. The target
(ours within 1.5x) is judged on CPU time of this process, which a busy machine does not
inflate; wall time (which also holds the Redis round trips) is reported beside it.

    python -m bench.overhead [--steps 50] [--runs 20] [--rounds 5] [--no-redis] [--profile]
    python -m bench.overhead --tracing   # tracing off vs on (no-op exporter, batching OTLP exporter)
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from bench._agents import instant_model, registry
from bench._common import Row, median, quiet_logging, report
from orchestrator.engine.executor import Executor, RunSpec
from orchestrator.engine.router import ModelPool, Router
from orchestrator.events import Collector
from orchestrator.plan import Plan
from orchestrator.settings import ExecutorSettings

NAME = "overhead"
REDIS_URL = "redis://127.0.0.1:6379/0"
Runner = Callable[[], Awaitable[None]]


class _State(TypedDict):
    n: int


def _bump(state: _State) -> dict[str, int]:
    return {"n": state["n"] + 1}


def raw_graph(steps: int, checkpointer: BaseCheckpointSaver[Any] | None) -> Any:
    """A raw LangGraph chain of ``steps`` no-op nodes."""
    graph = StateGraph(_State)
    for i in range(steps):
        graph.add_node(f"n{i}", _bump)
    graph.add_edge(START, "n0")
    for i in range(steps - 1):
        graph.add_edge(f"n{i}", f"n{i + 1}")
    graph.add_edge(f"n{steps - 1}", END)
    return graph.compile(checkpointer=checkpointer)


def chain_plan(steps: int, agent: str) -> Plan:
    first = {"id": "s0", "agent": agent, "params": {"value": 0}}
    rest = [{"id": f"s{i}", "agent": agent, "inputs": {"value": f"$steps.s{i - 1}.value"}} for i in range(1, steps)]
    return Plan.parse({"goal": "no-op chain", "steps": [first, *rest]}, max_steps=steps)


def executor(checkpointer: BaseCheckpointSaver[Any], durability: str) -> Executor:
    pool = ModelPool({}, {"instant": instant_model()})
    return Executor(registry(), Router(pool, default_cascade=["instant"]), checkpointer=checkpointer,
                    settings=ExecutorSettings(durability=durability))  # type: ignore[arg-type]


def ours_runner(engine: Executor, plan: Plan) -> Runner:
    async def run() -> None:
        spec = RunSpec(run_id=uuid.uuid4().hex, inputs={}, sensitivity={}, sink=Collector())
        result = await engine.execute(spec, plan)
        if result.status != "completed":
            raise RuntimeError(f"benchmark run failed: {result.error}")

    return run


def raw_runner(graph: Any, durability: str | None) -> Runner:
    async def run() -> None:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        kwargs = {"durability": durability} if durability else {}
        await graph.ainvoke({"n": 0}, config, **kwargs)

    return run


@dataclass
class Timing:
    """µs per step: CPU time of this process, and wall time."""

    cpu: float
    wall: float


async def per_step_us(run: Runner, runs: int, steps: int) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(runs):
        await run()
    scale = 1e6 / runs / steps
    return Timing((time.process_time() - cpu) * scale, (time.perf_counter() - wall) * scale)


async def side_by_side(ours: Runner, raw: Runner, *, runs: int, rounds: int, steps: int) -> tuple[Timing, Timing]:
    """Alternate ours and raw for ``rounds`` (after one warm-up round); medians of µs/step."""
    ours_t: list[Timing] = []
    raw_t: list[Timing] = []
    for round_no in range(rounds + 1):
        a = await per_step_us(ours, runs, steps)
        b = await per_step_us(raw, runs, steps)
        if round_no:  # round 0 warms caches and imports
            ours_t.append(a)
            raw_t.append(b)
    return (Timing(median([t.cpu for t in ours_t]), median([t.wall for t in ours_t])),
            Timing(median([t.cpu for t in raw_t]), median([t.wall for t in raw_t])))


async def _redis_savers(stack: AsyncExitStack) -> tuple[BaseCheckpointSaver[Any], BaseCheckpointSaver[Any]]:
    import redis.asyncio as aioredis

    from orchestrator.keys import KeySpace
    from orchestrator.store.checkpoint import RedisCheckpointer

    client = aioredis.Redis.from_url(REDIS_URL)
    await client.ping()
    keys = KeySpace(prefix=f"bench-overhead-{uuid.uuid4().hex[:8]}")

    async def cleanup() -> None:
        async for key in client.scan_iter(match=keys.pattern, count=1000):
            await client.delete(key)
        await client.aclose()

    stack.push_async_callback(cleanup)
    return RedisCheckpointer(client, keys=keys), RedisCheckpointer(client, keys=keys)


async def measure(steps: int = 50, runs: int = 20, rounds: int = 5, redis: bool = True,
                  durability: str = "sync") -> list[Row]:
    """One row per (step kind, checkpointer): ours vs raw LangGraph, µs per step."""
    quiet_logging()
    rows: list[Row] = []
    target = "ratio <= 1.5"
    async with AsyncExitStack() as stack:
        savers: list[tuple[str, BaseCheckpointSaver[Any], BaseCheckpointSaver[Any], int]] = [
            ("InMemorySaver", InMemorySaver(), InMemorySaver(), runs)]
        if redis:
            ours_saver, raw_saver = await _redis_savers(stack)
            savers.append(("RedisCheckpointer", ours_saver, raw_saver, max(2, runs // 2)))
        for saver_name, ours_saver, raw_saver, n in savers:
            raw = raw_runner(raw_graph(steps, raw_saver), durability)
            engine = executor(ours_saver, durability)
            for kind, agent in (("tool", "noop"), ("specialist", "noop_model")):
                ours, base = await side_by_side(ours_runner(engine, chain_plan(steps, agent)), raw,
                                                runs=n, rounds=rounds, steps=steps)
                extra = {"steps": steps, "runs_per_round": n, "rounds": rounds, "durability": durability}
                rows.append(Row(NAME, f"{kind} step, {saver_name}, CPU", ours.cpu, "us/step", base.cpu,
                                "raw LangGraph", target, ours.cpu / base.cpu <= 1.5, extra=extra))
                rows.append(Row(NAME, f"{kind} step, {saver_name}, wall", ours.wall, "us/step", base.wall,
                                "raw LangGraph", extra=extra))
        # Reference: raw LangGraph with no checkpointer at all (ours always checkpoints).
        bare = raw_runner(raw_graph(steps, None), None)
        await per_step_us(bare, runs, steps)
        bare_t = [await per_step_us(bare, runs, steps) for _ in range(rounds)]
        rows.append(Row(NAME, "raw LangGraph, no checkpointer, CPU", median([t.cpu for t in bare_t]), "us/step",
                        extra={"steps": steps, "wall_us": median([t.wall for t in bare_t])}))
    return rows


async def measure_tracing(steps: int = 50, runs: int = 20, rounds: int = 5) -> list[Row]:
    """Tracing off vs on (a no-op exporter; a batching OTLP exporter to a local receiver), side by
    side on the specialist-step chain, plus what the off path costs per step."""
    from bench import _tracing

    quiet_logging()
    rows: list[Row] = []
    extra = {"steps": steps, "runs_per_round": runs, "rounds": rounds, "checkpointer": "InMemorySaver"}
    engine = executor(InMemorySaver(), "sync")
    plain = ours_runner(engine, chain_plan(steps, "noop_model"))
    off = _tracing.traced(plain, None)
    with _tracing.otlp_receiver() as endpoint:
        for mode, provider in _tracing.providers(endpoint).items():
            on, base = await side_by_side(_tracing.traced(plain, provider), off, runs=runs, rounds=rounds, steps=steps)
            provider.shutdown()
            rows.append(Row(NAME, f"tracing on, {mode}, CPU", on.cpu, "us/step", base.cpu, "tracing off", extra=extra))
            rows.append(Row(NAME, f"tracing on, {mode}, wall", on.wall, "us/step", base.wall, "tracing off",
                            extra=extra))
    step_us = (await per_step_us(off, runs, steps)).cpu
    off_ns = _tracing.off_path_ns()
    rows.append(Row(NAME, "tracing off: the helpers' cost per step", off_ns / 1000, "us/step", step_us,
                    "one specialist step (CPU)", "ratio <= 0.01", off_ns / 1000 / step_us <= 0.01,
                    extra={"ns_per_step": round(off_ns, 1)}))
    return rows


async def profile(steps: int, runs: int, agent: str) -> str:
    """A pyinstrument profile of our executor on the InMemorySaver chain (``pip install pyinstrument``)."""
    from pyinstrument import Profiler

    quiet_logging()
    run = ours_runner(executor(InMemorySaver(), "sync"), chain_plan(steps, agent))
    await run()
    profiler = Profiler(interval=0.0002, async_mode="enabled")
    with profiler:
        for _ in range(runs):
            await run()
    return str(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20, help="runs per side per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--durability", choices=("sync", "async", "exit"), default="sync",
                        help="LangGraph durability for both sides (ours defaults to sync)")
    parser.add_argument("--no-redis", action="store_true", help="skip the RedisCheckpointer rows")
    parser.add_argument("--tracing", action="store_true",
                        help="measure tracing instead: off vs on (no-op exporter, batching OTLP exporter)")
    parser.add_argument("--profile", choices=("tool", "specialist"),
                        help="print a pyinstrument profile of our executor instead")
    args = parser.parse_args(argv)
    if args.profile:
        print(asyncio.run(profile(args.steps, args.runs, "noop" if args.profile == "tool" else "noop_model")))
        return []
    if args.tracing:
        rows = asyncio.run(measure_tracing(args.steps, args.runs, args.rounds))
        report(NAME + "_tracing", rows)
        return rows
    rows = asyncio.run(measure(args.steps, args.runs, args.rounds, not args.no_redis, args.durability))
    report(NAME, rows)
    return rows


if __name__ == "__main__":
    main()
