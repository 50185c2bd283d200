"""Conversation threads over the orchestrator: the core of the terminal and web chats.

::

    session = ChatSession(orchestrator)
    reply = await session.handle("ticket_triage: My card was charged twice", events=printer)
    print(reply.text)

Each message is planned and run. A message that starts with a workflow name and a colon
(``ticket_triage: <text>``) runs that workflow with the text as its single required input;
any other message is a free-form task, planned by the first tier that can (the task router,
the plan cache, the planner model: see :mod:`orchestrator.planning`), with the thread's
earlier turns passed as the context input ``history``. Messages persist per thread in the store, so a
thread can be resumed by id. Lines starting with ``/`` are commands (``/plan``, ``/cost``,
``/new``, ``/help``, ``/quit``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import InputError, OrchestratorError
from orchestrator.events import EventSink
from orchestrator.logging import get_logger
from orchestrator.store.base import ChatMessage, Store
from orchestrator.types import CostReport, Event, RunResult

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.engine.registry import Registry
    from orchestrator.workflow import Workflow

log = get_logger(__name__)

HISTORY_TURNS = 20
"""Earlier messages passed to the planner as ``history``."""
COMMANDS: dict[str, str] = {
    "/plan": "show the plan of the last run",
    "/cost": "cost of the last run and of the whole thread",
    "/new": "start a new thread",
    "/help": "list commands",
    "/quit": "leave the chat",
}
TASK_TIERS = ("router", "cache", "planner")
"""The tiers that plan free-form messages; the chats name the one that answered."""
_WORKFLOW_MESSAGE = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*:\s*(.*)$", re.DOTALL)

ReplyKind = Literal["answer", "command", "error", "quit"]


@dataclass(frozen=True, slots=True)
class Turn:
    """What one chat message asks to run."""

    target: str
    """A workflow name or the free-form task."""
    inputs: dict[str, Any]
    workflow: str | None = None
    """The workflow name; ``None`` for a free-form task."""


@dataclass(frozen=True, slots=True)
class ChatReply:
    """What the chat answers to one line."""

    kind: ReplyKind
    text: str
    result: RunResult | None = None
    """The run this line started (answers only)."""


@dataclass
class ThreadCost:
    """Spend summed over a thread's runs."""

    runs: int = 0
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    saving_usd: float = 0.0
    tokens: int = 0

    def add(self, cost: CostReport) -> None:
        self.runs += 1
        self.cost_usd += cost.cost_usd
        self.baseline_cost_usd += cost.baseline_cost_usd
        self.saving_usd += cost.saving_usd
        self.tokens += cost.usage.total_tokens


# -- parsing and rendering (shared with the HTTP interfaces) ---------------------------


def has_planner(orchestrator: Orchestrator) -> bool:
    """Whether free-form tasks can be planned: by a planner model, or by the local task router
    (:mod:`orchestrator.planning`), which runs the workflow that fits a message."""
    return orchestrator.settings.planner_spec() is not None or orchestrator.planning.router_available


def single_input(workflow: Workflow) -> str:
    """The name of the one required input of ``workflow`` (what a chat message fills)."""
    required = [name for name, spec in workflow.inputs.items() if spec.required]
    candidates = required or list(workflow.inputs)
    if len(candidates) != 1:
        raise InputError(
            f"workflow {workflow.name!r} takes inputs {', '.join(workflow.inputs) or 'none'}; "
            f"send them as a JSON object: {workflow.name}: {{\"name\": \"value\", ...}}")
    return candidates[0]


def workflow_inputs(workflow: Workflow, text: str) -> dict[str, Any]:
    """Inputs for ``workflow`` from message text: a JSON object, or the single required input."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, dict) and set(value) <= set(workflow.inputs):
            return value
    if not stripped:
        raise InputError(f"say what to run {workflow.name!r} on: {workflow.name}: <text>")
    return {single_input(workflow): text.strip()}


def parse_message(text: str, registry: Registry, *, planner: bool,
                  history: list[dict[str, str]] | None = None, workflow: str | None = None) -> Turn:
    """Turn a chat message into a run target and its inputs.

    ``workflow`` names the workflow to run on ``text`` (the web chat's picker); without it a
    ``<workflow>: `` prefix chooses one, and anything else is a task for the planner.
    """
    name, rest = workflow, text
    if name is None:
        match = _WORKFLOW_MESSAGE.match(text)
        if match and match.group(1) in registry.workflow_names:
            name, rest = match.group(1), match.group(2)
        elif text.strip() in registry.workflow_names:
            name, rest = text.strip(), ""
    if name is not None:
        chosen = registry.workflow(name)
        return Turn(chosen.name, workflow_inputs(chosen, rest), chosen.name)
    if not planner:
        raise InputError(no_planner_message(registry))
    return Turn(text.strip(), {"history": history} if history else {})


def history_context(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """A thread's messages as the planner's ``history`` input."""
    return [{"role": m.role, "content": m.content} for m in messages]


def reply_message(result: RunResult) -> ChatMessage:
    """The thread's record of a run's answer (or of why there is none)."""
    content = render_answer(result.answer) if result.ok else f"(run {result.status}: {result.error})"
    return ChatMessage(role="assistant", content=content, run_id=result.run_id)


def no_planner_message(registry: Registry) -> str:
    """Why a free-form message cannot run, and what can."""
    names = registry.workflow_names
    example = f"{names[0]}: <text>" if names else "<workflow>: <text>"
    return ("no planner model is configured, so free-form messages cannot be planned. "
            f"Start a message with a workflow name, e.g. {example!r}. "
            f"Workflows: {', '.join(names) or 'none'}")


def render_answer(answer: Any) -> str:
    """An answer as readable text: strings as they are, dicts and lists as indented lines."""
    if answer is None:
        return "(no answer)"
    if isinstance(answer, str):
        return answer
    return "\n".join(_render_lines(answer, 0))


def _render_lines(value: Any, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines: list[str] = []
        for key, item in value.items():
            if isinstance(item, Mapping | list) and item:
                lines.append(f"{pad}{key}:")
                lines += _render_lines(item, depth + 1)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return lines
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            sub = _render_lines(item, depth + 1)
            lines.append(f"{pad}- {sub[0].strip()}")
            lines += sub[1:]
        return lines
    return [pad + _scalar(value)]


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def describe_plan(plan: Mapping[str, Any] | None) -> str:
    """A plan as one line per step: ``id  agent  <- dependencies``."""
    if not plan:
        return "no plan yet"
    steps = plan.get("steps", [])
    lines = [f"plan: {plan.get('goal', '')} ({len(steps)} steps)"]
    for step in steps:
        refs = json.dumps(step.get("inputs", {}))
        deps = sorted(set(re.findall(r"\$steps\.([A-Za-z_][\w-]*)", refs)))
        after = f"  <- {', '.join(deps)}" if deps else ""
        lines.append(f"  {step.get('id', '?'):<16} {step.get('agent', '?')}{after}")
    return "\n".join(lines)


def describe_event(event: Event) -> str | None:
    """One progress line for a plan or step event (``None`` for other events)."""
    data = event.data
    if event.type == "plan.ready":
        steps = data.get("plan", {}).get("steps", [])
        tier = f" (planned by {data['planned_by']})" if data.get("planned_by") in TASK_TIERS else ""
        return f"plan{tier}: {len(steps)} steps: " + ", ".join(f"{s['id']} ({s['agent']})" for s in steps)
    if event.type == "step.started":
        return f"  ... {event.step_id:<14} {data.get('agent', '')}"
    if event.type in ("step.finished", "step.failed"):
        return _step_line(event)
    if event.type == "step.skipped":
        return f"  --  {event.step_id:<14} skipped: {data.get('reason', '')}"
    return None


def _step_line(event: Event) -> str:
    """``ok  <step> <agent> <model> local|cloud|tool <ms> $<cost>``, then escalation or error."""
    data = event.data
    finished = event.type == "step.finished"
    model = data.get("model")
    where = ("local" if data.get("local", True) else "cloud") if model else ("tool" if finished else "")
    cost = f"  ${data.get('cost_usd') or 0:.6f}" if model else ""
    notes = []
    if data.get("escalated_from"):
        notes.append(f"escalated from {', '.join(data['escalated_from'])}")
    if not finished:
        notes.append(str(data.get("error")))
    tail = "".join(f"  {note}" for note in notes)
    return (f"  {'ok ' if finished else 'ERR'} {event.step_id:<14} {data.get('agent', ''):<12} {model or '-':<24} "
            f"{where:<5} {data.get('latency_ms', 0):>7.0f} ms{cost}{tail}")


def describe_cost(cost: CostReport, duration_ms: float | None = None) -> str:
    """``cost $x; saved $y (z%) vs <model>; n local / m cloud steps; t ms``."""
    baseline = cost.baseline_model or "the planner model"
    parts = [f"cost ${cost.cost_usd:.6f}",
             f"saved ${cost.saving_usd:.6f} ({cost.saving_ratio:.0%}) vs {baseline}",
             f"{cost.usage.total_tokens} tokens",
             f"{cost.local_steps} local / {cost.remote_steps} cloud steps"]
    if duration_ms is not None:
        parts.append(f"{duration_ms:.0f} ms")
    return "; ".join(parts)


# -- the session -------------------------------------------------------------------------


@dataclass
class ChatSession:
    """One user's conversation: parses messages, runs them, keeps the thread in ``store``.

    ``store`` defaults to the orchestrator's store; give one explicitly when the
    orchestrator has none yet (its Redis store connects lazily).
    """

    orchestrator: Orchestrator
    store: Store
    thread_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    last: RunResult | None = None
    """The result of the last run in this session."""
    owns_store: bool = False
    """Close ``store`` in :meth:`aclose` (it was made for this session)."""
    _costs: dict[str, CostReport] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, orchestrator: Orchestrator, *, thread_id: str | None = None) -> ChatSession:
        """A session on the orchestrator's store, else on a store made from its settings."""
        store = orchestrator.store
        owns = store is None
        if store is None:
            from orchestrator.store import create_store

            settings = orchestrator.settings
            store = create_store(settings.redis_url, settings.keyspace)
        session = cls(orchestrator, store, owns_store=owns)
        if thread_id:
            session.thread_id = thread_id
        return session

    async def aclose(self) -> None:
        """Release the store if this session made it."""
        if self.owns_store:
            await self.store.aclose()

    async def history(self, limit: int = 200) -> list[ChatMessage]:
        """The thread's messages so far, oldest first."""
        return await self.store.history(self.thread_id, limit)

    def new_thread(self) -> str:
        """Start a new thread (the old one stays in the store)."""
        self.thread_id = uuid.uuid4().hex[:12]
        self.last = None
        return self.thread_id

    async def handle(self, line: str, *, events: EventSink | None = None) -> ChatReply:
        """Answer one line: a command, or a message to plan and run."""
        text = line.strip()
        if text.startswith("/"):
            return await self.command(text)
        try:
            result = await self.send(text, events=events)
        except OrchestratorError as exc:
            log.info("chat.message_rejected", thread_id=self.thread_id, error_type=type(exc).__name__)
            return ChatReply("error", str(exc))
        body = render_answer(result.answer) if result.ok else \
            f"the run {result.status}: {result.error or 'no reason given'}"
        return ChatReply("answer", body, result)

    async def send(self, text: str, *, events: EventSink | None = None) -> RunResult:
        """Plan and run one message; record it and the answer in the thread."""
        past = await self.store.history(self.thread_id, HISTORY_TURNS)
        turn = parse_message(text, self.orchestrator.registry, planner=has_planner(self.orchestrator),
                             history=history_context(past))
        self.orchestrator.check_task(turn.target)  # refused before it is recorded, as over HTTP
        await self.store.append_message(self.thread_id, ChatMessage(role="user", content=text))
        log.info("chat.run", thread_id=self.thread_id, workflow=turn.workflow, history=len(past))
        result = await self.orchestrator.run(turn.target, turn.inputs, events=events)
        self.last = result
        self._costs[result.run_id] = result.cost
        await self.store.append_message(self.thread_id, reply_message(result))
        return result

    async def thread_cost(self) -> ThreadCost:
        """The summed cost of every run in the thread (runs of earlier sessions from the store)."""
        total = ThreadCost()
        for message in await self.store.history(self.thread_id, 10_000):
            if message.role != "assistant" or message.run_id is None:
                continue
            cost = self._costs.get(message.run_id)
            if cost is None:
                run = await self.store.get_run(message.run_id)
                cost = run.cost if run is not None else None
            if cost is not None:
                total.add(cost)
        return total

    async def command(self, text: str) -> ChatReply:
        """Run a ``/command``."""
        name = text.split()[0].lower()
        if name in ("/quit", "/exit"):
            return ChatReply("quit", "bye")
        if name == "/new":
            return ChatReply("command", f"new thread {self.new_thread()}")
        if name == "/plan":
            return ChatReply("command", describe_plan(self.last.plan if self.last else None))
        if name == "/cost":
            return ChatReply("command", await self._cost_text())
        if name == "/help":
            return ChatReply("command", "\n".join(f"{c:<7} {d}" for c, d in COMMANDS.items()))
        return ChatReply("error", f"unknown command {name}; commands: {', '.join(COMMANDS)}")

    async def _cost_text(self) -> str:
        lines = [f"last run: {describe_cost(self.last.cost, self.last.duration_ms)}" if self.last
                 else "last run: none yet"]
        total = await self.thread_cost()
        lines.append(f"thread {self.thread_id} ({total.runs} runs): cost ${total.cost_usd:.6f}; "
                     f"saved ${total.saving_usd:.6f} of ${total.baseline_cost_usd:.6f}; {total.tokens} tokens")
        return "\n".join(lines)


__all__ = [
    "COMMANDS",
    "HISTORY_TURNS",
    "TASK_TIERS",
    "ChatReply",
    "ChatSession",
    "ThreadCost",
    "Turn",
    "describe_cost",
    "describe_event",
    "describe_plan",
    "has_planner",
    "history_context",
    "no_planner_message",
    "parse_message",
    "render_answer",
    "reply_message",
    "single_input",
    "workflow_inputs",
]
