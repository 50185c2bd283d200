"""Planning tiers: the task router and the plan cache against planning every task with a large model.

Reads ``bench/data/planning_corpus.json`` (12 task types, calibration and held-out
paraphrases, look-alike distractors) and reports, on the embedded default's embedder
(all-MiniLM-L6-v2):

- the router threshold calibrated on the calibration split (``orchestrator.calibration``);
- router accuracy on the held-out paraphrases and distractors;
- on a repetitive stream of 500 tasks (seeded): how many each tier planned, the cache hit
  rate, planner calls and cost against planning every task;
- planning latency p50 of a routed and of a cached task;
- wrong reuses: a routed or cached plan of another task type, on the distractors (after the
  cache has seen every type) and on the stream.

No large model is reachable here: a **scripted planner** (a FunctionModel that returns the
corpus plan of the task it is asked about) stands in for it and counts its calls; its cost is
priced as a hosted model at gpt-4o's list prices, with tokens estimated as characters / 4.
Runs are not executed: a planned run is taken as successful, so its plan is cached.

    python bench/planning.py [--stream 500] [--seed 7] [--model st:all-minilm-l6-v2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import Row, median, quiet_logging, report  # noqa: E402
from orchestrator.engine.app import Orchestrator  # noqa: E402
from orchestrator.models import Completion, FunctionModel, ModelCall, ModelSpec, Usage  # noqa: E402
from orchestrator.planning import Decision, calibrate  # noqa: E402
from orchestrator.settings import Settings  # noqa: E402
from orchestrator.types import RunResult  # noqa: E402

CORPUS = ROOT / "bench" / "data" / "planning_corpus.json"
PRICE_IN, PRICE_OUT = 2.50, 10.00
"""The stand-in planner's prices, US dollars per 1M tokens (gpt-4o's list prices)."""
DOCUMENTS = [p.read_text() for p in sorted((ROOT / "examples").rglob("*.txt"))][:8] or ["some text"]
_TASK = re.compile(r"^Task: (.*?)\n", re.MULTILINE)


def load() -> dict[str, Any]:
    corpus: dict[str, Any] = json.loads(CORPUS.read_text())
    for kind in corpus["types"]:
        kind.setdefault("plan", None)
    return corpus


def novel_plan(text: str) -> dict[str, Any]:
    """What the stand-in plans for a request no type covers (a plan of its own)."""
    return {"goal": f"novel: {text}", "steps": [{"id": "answer", "agent": "summarizer",
                                                 "instruction": text, "inputs": {"text": "$input.text"}}],
            "output": {"answer": "$steps.answer.summary"}}


class Oracle:
    """Who each request really is: its type id (None for a request no type covers)."""

    def __init__(self, corpus: dict[str, Any]):
        self.types = {t["id"]: t for t in corpus["types"]}
        self.of: dict[str, str | None] = {}
        for kind in corpus["types"]:
            for text in kind["calibration"] + kind["held_out"] + kind["fresh"]:
                self.of[text] = kind["id"]
        for item in corpus["distractors"]:
            self.of[item["text"]] = item["expected"]
        self.by_workflow = {t["workflow"]: t["id"] for t in corpus["types"] if t["workflow"]}
        self.by_goal = {t["plan"]["goal"] if t["plan"] else f"workflow:{t['workflow']}": t["id"]
                        for t in corpus["types"]}

    def workflow(self, text: str) -> str | None:
        kind = self.of[text]
        return self.types[kind]["workflow"] if kind else None

    def plan(self, text: str) -> dict[str, Any]:
        kind = self.of.get(text)
        if kind is None:
            return novel_plan(text)
        return self.types[kind]["plan"] or self.workflow_plan(self.types[kind]["workflow"])

    @staticmethod
    def workflow_plan(name: str) -> dict[str, Any]:
        """A large planner asked for a shipped workflow's task plans its steps, on the run's ``text``."""
        from orchestrator.workflows import document_digest, invoice_extraction, ticket_triage

        workflow = {w.name: w for w in (document_digest.workflow, invoice_extraction.workflow,
                                        ticket_triage.workflow)}[name]
        data = workflow.compile().model_dump(mode="json")
        text = json.dumps({**data, "goal": f"workflow:{name}"})
        for input_name in workflow.inputs:
            text = text.replace(f'"$input.{input_name}"', '"$input.text"')
        plan: dict[str, Any] = json.loads(text)
        return plan

    def answered_as(self, decision: Decision) -> str | None:
        """The type a routed or cached decision serves (``novel:<text>`` for a novel plan)."""
        if decision.tier == "router":
            return self.by_workflow.get(str(decision.workflow))
        assert decision.plan is not None
        goal = decision.plan.goal
        return self.by_goal.get(goal, goal)


USAGES: list[Usage] = []
"""The stand-in planner's token use, one entry per call."""


def scripted_planner(oracle: Oracle) -> FunctionModel:
    def reply(call: ModelCall) -> Completion:
        found = _TASK.search(call.last_user)
        plan = oracle.plan(found.group(1) if found else "")
        text = json.dumps(plan)
        USAGES.append(Usage(input_tokens=len(call.prompt) // 4, output_tokens=len(text) // 4))
        return Completion(text=text, parsed=plan, usage=USAGES[-1])

    return FunctionModel(reply, ref="scripted:planner", local=False)


def build(model: str, planner: FunctionModel) -> Orchestrator:
    settings = Settings.load()
    models = {**settings.models, "embed": ModelSpec(name="embed", ref=model, local=True),
              "planner": ModelSpec(name="planner", ref="scripted:planner", local=False, price_input=PRICE_IN,
                                   price_output=PRICE_OUT)}
    settings = settings.model_copy(update={"models": models, "redis_url": None,
                                           "planner": settings.planner.model_copy(update={"model": "planner"})})
    return Orchestrator(settings, models={"planner": planner})


async def calibrated_threshold(orch: Orchestrator, oracle: Oracle, corpus: dict[str, Any]) -> dict[str, Any]:
    router = orch.planning.router()
    assert router is not None, "the router needs the embedding model"
    texts = [t for kind in corpus["types"] for t in kind["calibration"]]
    texts += [d["text"] for d in corpus["distractors"] if d["split"] == "calibration"]
    scores, correct = [], []
    for text in texts:
        best = (await router.score(text))[0]
        scores.append(best.score)
        correct.append(best.workflow == oracle.workflow(text))
    threshold = calibrate(scores, correct, target_accuracy=0.98)
    return {"threshold": threshold, "items": len(texts), "configured": orch.settings.planner.router_threshold}


async def router_accuracy(orch: Orchestrator, oracle: Oracle, corpus: dict[str, Any]) -> dict[str, Any]:
    router = orch.planning.router()
    assert router is not None
    groups = {"paraphrases": [t for kind in corpus["types"] for t in kind["held_out"]],
              "fresh": [t for kind in corpus["types"] for t in kind["fresh"]],
              "distractors": [d["text"] for d in corpus["distractors"] if d["split"] == "held_out"]}
    misses: list[dict[str, Any]] = []
    right = dict.fromkeys(groups, 0)
    fresh_ms: list[float] = []
    embed_ms: list[float] = []
    for group, texts in groups.items():
        for text in texts:
            started = time.perf_counter()
            route = await router.route(text)
            if group == "fresh":  # never embedded before: the embedder runs
                fresh_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()  # side by side: one bare embedding of an unseen text
                await router.embedder.embed([text + " (again)"])
                embed_ms.append((time.perf_counter() - started) * 1000)
            if route.workflow == oracle.workflow(text):
                right[group] += 1
            else:
                misses.append({"text": text, "routed": route.workflow, "expected": oracle.workflow(text),
                               "closest": route.closest(2)})
    return {**{g: right[g] / len(texts) for g, texts in groups.items()},
            **{f"{g}_count": len(texts) for g, texts in groups.items()}, "misses": misses, "fresh_ms": fresh_ms,
            "embed_ms": embed_ms}


def stream(corpus: dict[str, Any], size: int, seed: int) -> list[str]:
    """A repetitive stream: popular types and popular phrasings come back often (Zipf-like)."""
    rng = random.Random(seed)
    kinds = corpus["types"]
    type_weights = [1 / (rank + 1) for rank in range(len(kinds))]
    tasks = []
    for _ in range(size):
        kind = rng.choices(kinds, type_weights)[0]
        phrasings = kind["calibration"] + kind["held_out"]
        tasks.append(rng.choices(phrasings, [1 / (rank + 1) ** 1.5 for rank in range(len(phrasings))])[0])
    return tasks


async def plan_one(orch: Orchestrator, text: str, inputs: dict[str, Any]) -> tuple[Decision, float]:
    """Plan ``text`` through the tiers as a run would; a planner-made plan is cached as after success."""
    started = time.perf_counter()
    decision = await orch.planning.decide(text, inputs)
    elapsed = (time.perf_counter() - started) * 1000
    if decision.tier == "planner":
        plan = await orch.plan(text, inputs)
        done = RunResult(run_id="bench", status="completed", plan=plan.model_dump(mode="json"), planned_by="planner")
        await orch.planning.remember(decision, done, inputs)
    return decision, elapsed


async def run_stream(orch: Orchestrator, oracle: Oracle, tasks: list[str], planner: FunctionModel) -> dict[str, Any]:
    tiers = {"router": 0, "cache": 0, "planner": 0}
    latency: dict[str, list[float]] = {"router": [], "cache": []}
    wrong: list[dict[str, Any]] = []
    before = len(planner.calls)
    for index, text in enumerate(tasks):
        decision, elapsed = await plan_one(orch, text, {"text": DOCUMENTS[index % len(DOCUMENTS)]})
        tiers[decision.tier] += 1
        if decision.tier != "planner":
            latency[decision.tier].append(elapsed)
            if oracle.answered_as(decision) != oracle.of[text]:
                wrong.append({"text": text, "tier": decision.tier, "served": oracle.answered_as(decision)})
    calls = len(planner.calls) - before
    return {"tiers": tiers, "planner_calls": calls, "wrong": wrong, "latency": latency,
            "cache_hit_rate": tiers["cache"] / len(tasks),
            "served_locally": (tiers["router"] + tiers["cache"]) / len(tasks)}


async def distractor_reuse(orch: Orchestrator, oracle: Oracle, corpus: dict[str, Any]) -> dict[str, Any]:
    """Warm the cache with every type's phrasings, then ask every distractor."""
    for kind in corpus["types"]:
        for text in kind["calibration"] + kind["held_out"] + kind["fresh"]:
            await plan_one(orch, text, {"text": DOCUMENTS[0]})
    wrong = []
    for item in corpus["distractors"]:
        decision, _ = await plan_one(orch, item["text"], {"text": DOCUMENTS[0]})
        if decision.tier != "planner" and oracle.answered_as(decision) != item["expected"]:
            wrong.append({"text": item["text"], "tier": decision.tier, "served": oracle.answered_as(decision),
                          "expected": item["expected"]})
    return {"count": len(corpus["distractors"]), "wrong": wrong}


def planner_cost(calls: int) -> tuple[float, float]:
    """The stand-in's mean cost per call (over every call it answered) and that times ``calls``."""
    costs = [(u.input_tokens * PRICE_IN + u.output_tokens * PRICE_OUT) / 1e6 for u in USAGES]
    mean = sum(costs) / len(costs) if costs else 0.0
    return mean, mean * calls


async def main_async(args: argparse.Namespace) -> int:
    quiet_logging()
    corpus = load()
    oracle = Oracle(corpus)
    planner = scripted_planner(oracle)
    orch = build(args.model, planner)
    async with orch:
        calibration = await calibrated_threshold(orch, oracle, corpus)
        if calibration["threshold"] is not None:
            router = orch.planning.router()
            assert router is not None
            router.threshold = calibration["threshold"]
        accuracy = await router_accuracy(orch, oracle, corpus)
        tasks = stream(corpus, args.stream, args.seed)
        result = await run_stream(orch, oracle, tasks, planner)
        reuse = await distractor_reuse(orch, oracle, corpus)
    per_call, cost = planner_cost(result["planner_calls"])
    baseline_cost = per_call * len(tasks)
    saved = 1 - result["planner_calls"] / len(tasks)
    p50 = {tier: median(ms) if ms else float("nan") for tier, ms in result["latency"].items()}
    print("planner: a scripted stand-in for the large model (counts its calls; priced at gpt-4o list prices, "
          "tokens = characters / 4); runs are not executed\n")
    print(f"router threshold calibrated on {calibration['items']} requests (98% target accuracy): "
          f"{calibration['threshold']} (configured default {calibration['configured']})")
    print(f"stream of {len(tasks)}: {result['tiers']}; distinct requests {len(set(tasks))}\n")
    rows = [
        Row("planning", "router accuracy, held-out paraphrases", accuracy["paraphrases"] * 100, "%",
            target=">= 95", ok=accuracy["paraphrases"] >= 0.95,
            extra={"n": accuracy["paraphrases_count"]}),
        Row("planning", "router accuracy, fresh paraphrases", accuracy["fresh"] * 100, "%",
            target=">= 95", ok=accuracy["fresh"] >= 0.95, extra={"n": accuracy["fresh_count"]}),
        Row("planning", "router accuracy, held-out distractors", accuracy["distractors"] * 100, "%",
            extra={"n": accuracy["distractors_count"]}),
        Row("planning", f"cache hit rate, stream of {len(tasks)}", result["cache_hit_rate"] * 100, "%"),
        Row("planning", "tasks planned locally (router + cache)", result["served_locally"] * 100, "%"),
        Row("planning", "planner calls", result["planner_calls"], "calls", baseline=len(tasks),
            baseline_name="planning every task", target=">= 90% fewer", ok=saved >= 0.9),
        Row("planning", "planner cost", cost, "$", baseline=baseline_cost, baseline_name="planning every task"),
        Row("planning", "planning p50, routed task", p50["router"], "ms", target="< 50", ok=p50["router"] < 50),
        Row("planning", "routing p50, request never embedded before", median(accuracy["fresh_ms"]), "ms",
            baseline=median(accuracy["embed_ms"]), baseline_name="one bare MiniLM embedding",
            target="< 50", ok=median(accuracy["fresh_ms"]) < 50),
        Row("planning", "planning p50, cached task", p50["cache"], "ms", target="< 50", ok=p50["cache"] < 50),
        Row("planning", "wrong reuses, distractors", len(reuse["wrong"]), "of " + str(reuse["count"]),
            target="0", ok=not reuse["wrong"]),
        Row("planning", "wrong reuses, stream", len(result["wrong"]), f"of {len(tasks)}", target="0",
            ok=not result["wrong"]),
    ]
    report("planning", rows, {"calibration": calibration, "router_misses": accuracy["misses"],
                              "wrong_reuse": reuse["wrong"] + result["wrong"], "tiers": result["tiers"],
                              "stand_in": "scripted planner (FunctionModel), not a large model"})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream", type=int, default=500, help="tasks in the repetitive stream")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", default="st:all-minilm-l6-v2", help="the router's embedding model")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
