"""Pieces every command shares: config options, building the Orchestrator, printing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.settings import Settings
    from orchestrator.types import Event, RunResult, Sensitivity


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="configuration file (default: ./orchestrator.toml)")
    parser.add_argument("--profile", metavar="NAME", help="packaged profile: embedded, ollama, hybrid")


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """``TARGET``, ``--input`` and ``--sensitivity``: what ``run`` and ``submit`` share."""
    parser.add_argument("target", help="a workflow name (see `orchestrator workflows`) or a task in quotes")
    parser.add_argument("-i", "--input", action="append", metavar="KEY=VALUE",
                        help="an input: key=value, key=@file (text; .json parsed) or key:=JSON")
    parser.add_argument("--sensitivity", action="append", metavar="KEY=LEVEL",
                        help="mark an input public, internal or confidential")


def parse_sensitivity(items: list[str] | None) -> dict[str, Sensitivity]:
    """``["ticket=confidential"]`` -> ``{"ticket": Sensitivity.CONFIDENTIAL}``."""
    from orchestrator.errors import InputError
    from orchestrator.types import Sensitivity

    levels: dict[str, Sensitivity] = {}
    for item in items or []:
        key, _, level = item.partition("=")
        try:
            levels[key] = Sensitivity(level)
        except ValueError:
            raise InputError(f"--sensitivity {item!r}: the level must be public, internal or confidential") from None
    return levels


def add_app_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", metavar="MODULE:FACTORY",
                        help="use what this factory returns (an Orchestrator, or for workers any job runner) "
                             "instead of building an Orchestrator from the configuration")


def load_app(spec: str, settings: Settings | None = None) -> Any:
    """Import ``module:factory`` and build the app: an instance is used as it is; a factory (or
    class) is called, with the settings if it takes an argument. An async factory's awaitable is
    returned for the caller to await."""
    import importlib
    import inspect

    from orchestrator.errors import UserError

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserError(f"--app {spec!r} must look like 'package.module:factory'")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"--app {spec!r}: cannot load it ({exc})") from None
    is_factory = inspect.isclass(target) or (callable(target) and not hasattr(target, "run"))
    if not is_factory:
        return target
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    takes_settings = any(p.kind in positional for p in inspect.signature(target).parameters.values())
    return target(settings) if settings is not None and takes_settings else target()


def load_settings(args: argparse.Namespace) -> Settings:
    from orchestrator.settings import Settings

    return Settings.load(getattr(args, "config", None), profile=getattr(args, "profile", None))


def build_orchestrator(args: argparse.Namespace) -> Orchestrator:
    """The Orchestrator ``--app module:factory`` returns (when the command has that option and
    it is given), else one built from the configuration."""
    from orchestrator.engine.app import Orchestrator
    from orchestrator.errors import UserError

    settings = load_settings(args)
    spec = getattr(args, "app", None)
    if spec is None:
        return Orchestrator(settings)
    app = load_app(spec, settings)
    if not isinstance(app, Orchestrator):
        raise UserError(f"--app {spec!r} returned {type(app).__name__}; this command needs an Orchestrator "
                        "(a plain function returning one, or an instance)")
    return app


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


class Progress:
    """Prints each step as it runs (stderr), so long work is visibly moving."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr

    async def emit(self, event: Event) -> None:
        data = event.data
        if event.type == "plan.ready":  # the chats' line: steps, and the tier of a free-form task
            from orchestrator.interfaces.chat import describe_event

            self._line(describe_event(event) or "plan ready")
        elif event.type == "step.started":
            self._line(f"  ... {event.step_id:<16} {data.get('agent', '')}")
        elif event.type in ("step.finished", "step.failed", "step.skipped"):
            mark = {"step.finished": "ok ", "step.failed": "ERR", "step.skipped": "-- "}[event.type]
            where = "local" if data.get("local", True) else "cloud"
            unused = "no model call" if data.get("attempts") else "tool"  # a specialist that needed none
            model = data.get("model") or (unused if event.type == "step.finished" else "")
            detail = f"{model} ({where})" if data.get("model") else model
            tail = f"  {data.get('error') or data.get('reason')}" if event.type != "step.finished" else ""
            if data.get("load_ms"):
                tail += f"  (+{data['load_ms'] / 1000:.1f} s loading the model)"
            self._line(f"  {mark} {event.step_id:<16} {data.get('agent', ''):<12} {detail:<36} "
                       f"{data.get('latency_ms', 0):>8.0f} ms{tail}")
        elif event.type in ("model.replica_down", "model.replica_up"):
            self._line(replica_line(event))

    def loading(self, ref: str) -> None:
        """A model's weights begin to load (called from the loader's thread)."""
        self._line(f"      loading {ref} (weights load on first use; this takes a few seconds) ...")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def replica_line(event: Event) -> str:
    """A ``model.replica_down`` / ``model.replica_up`` event as a progress line."""
    data = event.data
    replica = f"      replica {data.get('endpoint')} of {data.get('model')}"
    if event.type == "model.replica_up":
        return f"{replica} is back"
    return f"{replica} is out ({data.get('reason')}); tried again in {data.get('retry_in_s')} s"


def print_result(result: RunResult) -> None:
    """A finished run for people: its answer as JSON, the step table, and its error if any."""
    if result.answer is not None:
        print_json(result.answer)
    print()
    print(step_table(result))
    if result.error:
        print(f"\nerror: {result.error}")


def step_table(result: RunResult) -> str:
    """A per-step table: status, agent, model, local/cloud, attempts, latency, cost."""
    step_width = max([16, *(len(s.step_id) for s in result.steps)])
    agent_width = max([12, *(len(s.agent) for s in result.steps)])
    header = f"{'step':<{step_width}} {'status':<10} {'agent':<{agent_width}} {'model':<30} {'where':<6} " \
             f"{'tries':>5} {'ms':>8} {'cost $':>10}"
    rows = [header, "-" * len(header)]
    for s in result.steps:
        where = "" if s.model is None else ("local" if s.local else "cloud")
        rows.append(f"{s.step_id:<{step_width}} {s.status:<10} {s.agent:<{agent_width}} {(s.model or '-')[:30]:<30} "
                    f"{where:<6} {len(s.attempts):>5} {s.latency_ms:>8.0f} {s.cost_usd:>10.6f}")
    c = result.cost
    rows.append("")
    audits = f" (audits of local answers ${c.audit_cost_usd:.6f})" if c.audit_cost_usd else ""
    rows.append(f"cost ${c.cost_usd:.6f}{audits}; on {c.baseline_model or 'the planner model'} everywhere: "
                f"${c.baseline_cost_usd:.6f}; saved ${c.saving_usd:.6f}; tokens {c.usage.total_tokens}; "
                f"{c.local_steps} local / {c.remote_steps} cloud model steps; {result.duration_ms:.0f} ms")
    if result.planned_by:
        rows.append(f"planned by: {result.planned_by}")
    return "\n".join(rows)


def config_path(args: argparse.Namespace) -> Path:
    """Where ``--write-config`` writes (``eval``, ``distill``): its PATH, else the configuration file
    this command read, else ./orchestrator.toml (refused when pyproject.toml holds the configuration)."""
    import os
    import tomllib

    from orchestrator.errors import UserError

    given = args.write_config or args.config or os.environ.get("ORCHESTRATOR_CONFIG")
    if given:
        return Path(given)
    path, pyproject = Path("orchestrator.toml"), Path("pyproject.toml")
    if not path.exists() and pyproject.is_file():
        try:
            tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
        except tomllib.TOMLDecodeError:
            tool = {}
        if "orchestrator" in tool:
            raise UserError("the configuration is [tool.orchestrator] in pyproject.toml; a new orchestrator.toml "
                            "would replace it. Give the file to write: --write-config PATH")
    return path


def warn_overrides(args: argparse.Namespace, path: Path, thresholds: dict[str, float]) -> None:
    """Say where the written thresholds will not take effect (an environment override, an unread file)."""
    settings = load_settings(args)
    for name in thresholds:
        origin = settings.origin(f"specialists.{name}.threshold") or ""
        if origin.startswith("environment"):
            print(f"warning: {origin} overrides the threshold of {name} written to {path}", file=sys.stderr)
    if args.profile and not args.config:
        print(f"note: runs with --profile {args.profile} alone do not read {path}; use --config {path}",
              file=sys.stderr)
