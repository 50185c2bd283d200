"""``orchestrator chat``: a multi-turn terminal chat (interactive, or lines over a pipe).

``--app module:factory`` (shared with ``serve``) replaces the configured Orchestrator, so tests
and embedders can bring their own; :func:`load_orchestrator` resolves it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any, TextIO

from orchestrator.interfaces.cli._common import add_app_option, add_config_options, build_orchestrator

if TYPE_CHECKING:
    from orchestrator.engine.app import Orchestrator
    from orchestrator.interfaces.chat import ChatReply, ChatSession
    from orchestrator.types import Event

PROMPT = "you> "


def register(subparsers: Any) -> None:
    chat = subparsers.add_parser(
        "chat", help="chat in the terminal: each message is planned and run",
        description="Multi-turn chat. Start a message with '<workflow>: ' to run a workflow on the text; "
                    "anything else is a task for the planner. Commands: /plan /cost /new /help /quit. "
                    "Reads lines from stdin when it is not a terminal.")
    chat.add_argument("--thread", metavar="ID", help="resume this conversation thread")
    add_app_option(chat)
    add_config_options(chat)
    chat.set_defaults(func=_chat)


def load_orchestrator(args: argparse.Namespace) -> Orchestrator:
    """The ``--app`` orchestrator, else one built from ``--config``/``--profile``."""
    return build_orchestrator(args)


def _chat(args: argparse.Namespace) -> int:
    return asyncio.run(_chat_async(args, interactive=sys.stdin.isatty()))


class _StepLines:
    """Prints plan and step events as they happen, and a generative step's text as it is written
    (``  >> <step>: ...``, one line per step and draft; the answer itself follows as usual)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._writing: tuple[str | None, object] | None = None

    async def emit(self, event: Event) -> None:
        from orchestrator.interfaces.chat import describe_event

        if event.type == "step.delta":
            writing = (event.step_id, event.data.get("draft"))
            if writing != self._writing:
                self._end_text()
                print(f"  >> {event.step_id}: ", end="", file=self.stream)
                self._writing = writing
            print(event.data.get("text", ""), end="", file=self.stream, flush=True)
            return
        line = describe_event(event)
        if line is not None or event.terminal:
            self._end_text()
        if line is not None:
            print(line, file=self.stream, flush=True)

    def _end_text(self) -> None:
        if self._writing is not None:
            print(file=self.stream, flush=True)
            self._writing = None


async def _chat_async(args: argparse.Namespace, *, interactive: bool) -> int:
    from orchestrator.interfaces.chat import ChatSession

    orchestrator = load_orchestrator(args)
    async with orchestrator:
        session = ChatSession.open(orchestrator, thread_id=args.thread)
        try:
            if interactive:
                await _greet(session, resumed=bool(args.thread))
            return await _loop(session, interactive)
        finally:
            await session.aclose()


async def _greet(session: ChatSession, *, resumed: bool) -> None:
    from orchestrator.interfaces.chat import has_planner

    orch = session.orchestrator
    print(f"orchestrator chat; thread {session.thread_id} (resume with --thread {session.thread_id})")
    planner = orch.settings.planner.model or ("none; free-form messages go to the task router"
                                              if has_planner(orch) else "none (workflow messages only)")
    print(f"workflows: {', '.join(orch.registry.workflow_names) or 'none'}; planner: {planner}")
    print("start a message with '<workflow>: ' to run a workflow; /help lists commands")
    if resumed:
        past = await session.history()
        print(f"-- {len(past)} earlier messages --" if past else "-- no earlier messages in this thread --")
        for message in past:
            who = "you" if message.role == "user" else message.role
            print(f"{who}: {message.content}")
        if past:
            print("--")


async def _read(interactive: bool) -> str | None:
    """The next line, or ``None`` at end of input (read in a thread: never blocks the loop)."""
    if interactive:
        try:
            return await asyncio.to_thread(input, PROMPT)
        except EOFError:
            return None
    line = await asyncio.to_thread(sys.stdin.readline)
    return line or None


async def _loop(session: ChatSession, interactive: bool) -> int:
    failures = 0
    progress = _StepLines(sys.stdout if interactive else sys.stderr)
    while (line := await _read(interactive)) is not None:
        if not line.strip():
            continue
        reply = await session.handle(line, events=progress)
        if reply.kind == "quit":
            if interactive:
                print(reply.text)
            break
        failures += reply.kind == "error" or (reply.result is not None and not reply.result.ok)
        _show(reply, interactive)
    return 1 if failures else 0


def _show(reply: ChatReply, interactive: bool) -> None:
    from orchestrator.interfaces.chat import TASK_TIERS, describe_cost

    if reply.kind == "error":
        print(f"error: {reply.text}", file=sys.stdout if interactive else sys.stderr, flush=True)
        return
    if interactive and reply.result is not None:
        print()
        print(reply.text)
        tier = f"planned by {reply.result.planned_by}; " if reply.result.planned_by in TASK_TIERS else ""
        print(f"  [{tier}{describe_cost(reply.result.cost, reply.result.duration_ms)}]")
        print()
    else:
        print(reply.text, flush=True)


__all__ = ["load_orchestrator", "register"]
