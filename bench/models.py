"""Specialist latency on the embedded profile's models, on the repo's own example inputs.

Each specialist step of the ``ticket_triage`` workflow (on ``examples/tickets/*.txt``) and
of ``invoice_extraction`` (on ``examples/receipts/*.txt``) runs through the router exactly
as the executor runs it (cascade, checks, repair), on the embedded profile: the classifier
and summarizer on ``st:all-minilm-l6-v2``, the extractor on ``llamacpp:gemma3-270m``.
The baseline beside each is one bare call of the same model on the same text (an
embedding of it, or a 16-token completion), so the ratio is what the specialist's work
(prompts, label embeddings, grounding, validation) costs over touching the model once.

A second pass (``--setup gemma``) runs all three specialists on Gemma 3 270M alone: the
classifier constrained to the label set by grammar, the extractor grounded, the summarizer
generative (a 270M base model's summaries are not trustworthy, which is why the embedded
profile summarises extractively; this pass measures what generation costs).

    python -m bench.models [--repeats 2] [--setup embedded|gemma|both]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._common import Row, median, p95, quiet_logging, report

NAME = "models"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: workflow -> (its document input, the example folder)
CORPORA = {"ticket_triage": ("ticket", "tickets"), "invoice_extraction": ("document", "receipts")}
SPECIALISTS = ("classifier", "extractor", "summarizer")


async def bare_call(orch: Any, model_name: str, text: str) -> float:
    """Seconds for one bare call of ``model_name`` on ``text``."""
    from orchestrator.models.base import user

    client = orch.pool.client(model_name)
    started = time.perf_counter()
    if model_name == "embed":
        await client.embed([text])
    else:
        await client.complete([user(text)], max_tokens=16)
    return time.perf_counter() - started


#: setup -> per specialist (cascade, options) overrides of the embedded profile
SETUPS: dict[str, dict[str, tuple[list[str], dict[str, Any]]]] = {
    "embedded": {},
    "gemma": {
        "classifier": (["gemma"], {"mode": "generative"}),
        "extractor": (["gemma"], {"grounded": True}),
        "summarizer": (["gemma"], {"extractive": False}),
    },
}


def settings_for(setup: str) -> Any:
    from orchestrator.settings import Settings

    settings = Settings.load(profile="embedded", redis_url=None)
    specialists = dict(settings.specialists)
    for name, (cascade, options) in SETUPS[setup].items():
        specialists[name] = specialists[name].model_copy(update={"cascade": cascade, "options": options})
    return settings.model_copy(update={"specialists": specialists})


async def measure(repeats: int = 2, setup: str = "embedded") -> tuple[list[Row], dict[str, Any]]:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.engine.router import RunGuard
    from orchestrator.plan import resolve
    from orchestrator.types import Sensitivity

    quiet_logging()
    orch = Orchestrator(settings_for(setup))
    ours: dict[str, list[float]] = defaultdict(list)
    bare: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    models: dict[str, str] = {}
    try:
        for workflow_name, (input_name, folder) in CORPORA.items():
            plan = orch.registry.workflow(workflow_name).compile(orch.registry.agent_names)
            for path in sorted((EXAMPLES / folder).glob("*.txt")):
                inputs = {input_name: path.read_text(encoding="utf-8")}
                for step in plan.steps:
                    if step.agent not in SPECIALISTS:
                        continue
                    agent = orch.registry.agent(step.agent)
                    request = agent.Input.model_validate(resolve({**step.params, **step.inputs}, inputs, {}))
                    model_name = orch.router.cascade(agent)[0]  # type: ignore[arg-type]
                    models[step.agent] = orch.pool.spec(model_name).ref
                    for attempt in range(repeats + 1):
                        started = time.perf_counter()
                        result = await orch.router.run(agent, request, step_id=step.id,  # type: ignore[arg-type]
                                                       instruction=step.instruction,
                                                       sensitivity=Sensitivity.INTERNAL, guard=RunGuard())
                        took = time.perf_counter() - started
                        base = await bare_call(orch, model_name, inputs[input_name])
                        if attempt:  # the first pass loads models and fills caches
                            ours[step.agent].append(took)
                            bare[step.agent].append(base)
                            outcomes[step.agent][result.status] += 1
    finally:
        await orch.aclose()
    rows: list[Row] = []
    for name in SPECIALISTS:
        if not ours[name]:
            continue
        extra = {"setup": setup, "model": models[name], "calls": len(ours[name]), "outcomes": dict(outcomes[name])}
        rows.append(Row(NAME, f"{setup}: {name} median ({models[name]})", median(ours[name]) * 1000, "ms",
                        median(bare[name]) * 1000, "bare model call", extra=extra))
        rows.append(Row(NAME, f"{setup}: {name} p95", p95(ours[name]) * 1000, "ms", p95(bare[name]) * 1000,
                        "bare model call", extra=extra))
    details = {"setup": setup, "ours_s": dict(ours), "bare_s": dict(bare)}
    return rows, details


def available() -> str | None:
    """Why this benchmark cannot run here, or ``None`` if it can."""
    import importlib.util

    for module, extra in (("llama_cpp", "llamacpp"), ("sentence_transformers", "embeddings")):
        if importlib.util.find_spec(module) is None:
            return f"needs {module}: pip install 'slm-orchestrator[{extra}]'"
    return None


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per input and step")
    parser.add_argument("--setup", choices=[*SETUPS, "both"], default="both",
                        help="the embedded profile as shipped, every specialist on Gemma, or both")
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        print(f"skipped: {missing}")
        return []
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for setup in SETUPS if args.setup == "both" else [args.setup]:
        measured, details[setup] = asyncio.run(measure(args.repeats, setup))
        rows += measured
    report(NAME, rows, details)
    return rows


if __name__ == "__main__":
    main()
