"""Concurrency: a DAG of uneven simulated model calls, wall time vs its critical path.

The plan: a 1 s model step beside a chain of four 0.2 s steps, a fan-out (0.1 s, then
four 0.4 s branches) and its fan-in (0.2 s), and a final 0.1 s step that waits for all
three branches. Critical path 1.1 s; sum of all steps 3.8 s. Our executor dispatches
each step the moment its inputs are ready; the baseline is the same DAG as a raw
LangGraph ``StateGraph`` of sleeping nodes, which advances in supersteps (a level waits
for its slowest node). Both run in the same process, alternating.

    python -m bench.parallelism [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import time
import uuid
from typing import Annotated, Any, TypedDict

from langgraph.graph import START, StateGraph

from bench._agents import registry, sleepy_model
from bench._common import Row, median, quiet_logging, report
from orchestrator.engine.executor import Executor, RunSpec
from orchestrator.engine.router import ModelPool, Router
from orchestrator.events import Collector
from orchestrator.models.spec import ModelSpec
from orchestrator.plan import Plan

NAME = "parallelism"

#: step id -> (delay in seconds, the steps it waits for)
DAG: dict[str, tuple[float, tuple[str, ...]]] = {
    "slow": (1.0, ()),
    "c1": (0.2, ()), "c2": (0.2, ("c1",)), "c3": (0.2, ("c2",)), "c4": (0.2, ("c3",)),
    "fan": (0.1, ()),
    **{f"f{i}": (0.4, ("fan",)) for i in range(1, 5)},
    "join": (0.2, tuple(f"f{i}" for i in range(1, 5))),
    "report": (0.1, ("slow", "c4", "join")),
}


def critical_path() -> float:
    finish: dict[str, float] = {}
    for step, (delay, deps) in DAG.items():  # DAG is written in topological order
        finish[step] = delay + max((finish[d] for d in deps), default=0.0)
    return max(finish.values())


def total_work() -> float:
    return sum(delay for delay, _ in DAG.values())


def plan() -> Plan:
    steps = [{"id": step, "agent": "wait", "params": {"delay": delay},
              "inputs": {"after": [f"$steps.{d}.value" for d in deps]}} for step, (delay, deps) in DAG.items()]
    return Plan.parse({"goal": "uneven DAG", "steps": steps})


def executor() -> Executor:
    spec = ModelSpec(name="sleepy", ref="function:sleepy", concurrency=len(DAG))
    pool = ModelPool({"sleepy": spec}, {"sleepy": sleepy_model()})
    return Executor(registry(), Router(pool, default_cascade=["sleepy"]))


class _State(TypedDict):
    done: Annotated[list[str], operator.add]


def raw_graph() -> Any:
    """The same DAG in raw LangGraph: each node sleeps its delay."""
    graph = StateGraph(_State)
    for step, (delay, _) in DAG.items():
        async def node(state: _State, step: str = step, delay: float = delay) -> dict[str, list[str]]:
            await asyncio.sleep(delay)
            return {"done": [step]}

        graph.add_node(step, node)
    for step, (_, deps) in DAG.items():
        if not deps:
            graph.add_edge(START, step)
        elif len(deps) == 1:
            graph.add_edge(deps[0], step)
        else:
            graph.add_edge(list(deps), step)
    return graph.compile()


async def measure(runs: int = 5) -> list[Row]:
    quiet_logging()
    engine, graph, the_plan = executor(), raw_graph(), plan()
    ours: list[float] = []
    raw: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = await engine.execute(RunSpec(run_id=uuid.uuid4().hex, inputs={}, sensitivity={},
                                              sink=Collector()), the_plan)
        ours.append(time.perf_counter() - started)
        if result.status != "completed":
            raise RuntimeError(f"benchmark run failed: {result.error}")
        started = time.perf_counter()
        await graph.ainvoke({"done": []})
        raw.append(time.perf_counter() - started)
    path, work = critical_path(), total_work()
    wall, raw_wall = median(ours), median(raw)
    extra = {"runs": runs, "critical_path_s": path, "sum_of_steps_s": work, "steps": len(DAG)}
    return [
        Row(NAME, "wall time", wall, "s", raw_wall, "raw LangGraph supersteps", extra=extra),
        Row(NAME, "wall / critical path", wall / path, "x", raw_wall / path, "raw LangGraph supersteps",
            "<= 1.10", wall / path <= 1.10, extra=extra),
        Row(NAME, "wall / sum of step times", wall / work, "x", raw_wall / work, "raw LangGraph supersteps",
            extra=extra),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.parallelism", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.runs))
    report(NAME, rows, {"dag": {k: {"delay_s": d, "after": list(deps)} for k, (d, deps) in DAG.items()}})
    return rows


if __name__ == "__main__":
    main()
