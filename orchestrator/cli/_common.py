"""Pieces every command shares: config options, building the Orchestrator, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.app import Orchestrator
    from orchestrator.settings import Settings
    from orchestrator.types import Event, RunResult


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: ./orchestrator.toml)")
    parser.add_argument("--profile", metavar="NAME", help="packaged profile: embedded, ollama, hybrid")


def load_settings(args: argparse.Namespace) -> Settings:
    from orchestrator.settings import Settings

    return Settings.load(getattr(args, "config", None), profile=getattr(args, "profile", None))


def build_orchestrator(args: argparse.Namespace) -> Orchestrator:
    from orchestrator.app import Orchestrator

    return Orchestrator(load_settings(args))


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


class Progress:
    """Prints each step as it runs (stderr), so long work is visibly moving."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr

    async def emit(self, event: Event) -> None:
        data = event.data
        if event.type == "plan.ready":
            steps = data.get("plan", {}).get("steps", [])
            self._line(f"plan: {len(steps)} steps: " + ", ".join(f"{s['id']} ({s['agent']})" for s in steps))
        elif event.type == "step.started":
            self._line(f"  ... {event.step_id:<16} {data.get('agent', '')}")
        elif event.type in ("step.finished", "step.failed", "step.skipped"):
            mark = {"step.finished": "ok ", "step.failed": "ERR", "step.skipped": "-- "}[event.type]
            where = "local" if data.get("local", True) else "cloud"
            model = data.get("model") or ("tool" if event.type == "step.finished" else "")
            detail = f"{model} ({where})" if data.get("model") else model
            tail = f"  {data.get('error') or data.get('reason')}" if event.type != "step.finished" else ""
            self._line(f"  {mark} {event.step_id:<16} {data.get('agent', ''):<12} {detail:<36} "
                       f"{data.get('latency_ms', 0):>8.0f} ms{tail}")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def step_table(result: RunResult) -> str:
    """A per-step table: status, agent, model, local/cloud, attempts, latency, cost."""
    header = f"{'step':<16} {'status':<10} {'agent':<12} {'model':<30} {'where':<6} {'tries':>5} " \
             f"{'ms':>8} {'cost $':>10}"
    rows = [header, "-" * len(header)]
    for s in result.steps:
        where = "" if s.model is None else ("local" if s.local else "cloud")
        rows.append(f"{s.step_id:<16} {s.status:<10} {s.agent:<12} {(s.model or '-')[:30]:<30} {where:<6} "
                    f"{len(s.attempts):>5} {s.latency_ms:>8.0f} {s.cost_usd:>10.6f}")
    c = result.cost
    rows.append("")
    rows.append(f"cost ${c.cost_usd:.6f}; on {c.baseline_model or 'the planner model'} everywhere: "
                f"${c.baseline_cost_usd:.6f}; saved ${c.saving_usd:.6f}; tokens {c.usage.total_tokens}; "
                f"{c.local_steps} local / {c.remote_steps} cloud model steps; {result.duration_ms:.0f} ms")
    return "\n".join(rows)
