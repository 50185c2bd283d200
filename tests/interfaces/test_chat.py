"""The chat: the session core, ``orchestrator chat`` over a pipe, and interactively in a pty."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from orchestrator.events import Collector
from orchestrator.interfaces.chat import ChatSession, describe_event, parse_message, render_answer
from orchestrator.keys import KeySpace
from orchestrator.store import MemoryStore, RedisStore
from tests.conftest import REDIS_URL
from tests.interfaces.app import build

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.interfaces.app:build"


def chat_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_TEST_", "ORCHESTRATOR_"))}
    env.pop("REDIS_URL", None)
    env.update({"PYTHONPATH": str(ROOT), "ORCH_TEST_DELAY": "0.05", **extra})
    return env


# -- the session --------------------------------------------------------------------------


async def test_session_runs_workflows_and_planned_tasks_with_history() -> None:
    orch = build(redis_url=None)
    session = ChatSession(orch, MemoryStore())
    events = Collector()
    first = await session.handle("echo: hello", events=events)
    assert (first.kind, first.text) == ("answer", "text: HELLO")
    assert "plan.ready" in events.types() and "step.finished" in events.types()
    second = await session.handle("what next?")
    assert second.text == "reply: WHAT NEXT? (AFTER 2 TURNS)"  # the earlier turns went in as history
    history = await session.history()
    assert [(m.role, m.content) for m in history][:2] == [("user", "echo: hello"), ("assistant", "text: HELLO")]
    assert history[-1].run_id == second.result.run_id if second.result else False
    plan = await session.handle("/plan")
    assert plan.kind == "command" and "reply            echo" in plan.text
    cost = await session.handle("/cost")
    assert "last run: cost $" in cost.text and "(2 runs)" in cost.text
    old = session.thread_id
    assert (await session.handle("/new")).text == f"new thread {session.thread_id}"
    assert session.thread_id != old and await session.history() == []
    assert (await session.handle("/quit")).kind == "quit"
    assert (await session.handle("/nope")).kind == "error"
    await orch.aclose()


async def test_without_a_planner_free_text_lists_workflows() -> None:
    orch = build(redis_url=None, planner={"model": None})
    session = ChatSession(orch, MemoryStore())
    reply = await session.handle("summarise my week")
    assert reply.kind == "error"
    assert "no planner model is configured" in reply.text and "echo, slow_echo" in reply.text
    assert (await session.handle("echo: still works")).text == "text: STILL WORKS"
    assert (await session.handle("echo:")).kind == "error"
    await orch.aclose()


async def test_thread_resumes_from_redis(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    orch = build(redis_url=REDIS_URL, key_prefix=keyspace.prefix)
    first = ChatSession.open(orch)
    await first.handle("echo: one")
    await first.handle("two")
    thread = first.thread_id
    await first.aclose()
    second = ChatSession.open(orch, thread_id=thread)
    assert isinstance(second.store, RedisStore)
    assert [m.content for m in await second.history()] == [
        "echo: one", "text: ONE", "two", "reply: TWO (AFTER 2 TURNS)"]
    assert (await second.handle("three")).text == "reply: THREE (AFTER 4 TURNS)"
    total = await second.thread_cost()  # earlier runs' costs come from the store
    assert total.runs == 3 and total.cost_usd > 0
    await second.aclose()
    await orch.aclose()


def test_parse_and_render() -> None:
    registry = build(redis_url=None).registry
    turn = parse_message("slow_echo:  some text ", registry, planner=False)
    assert (turn.target, turn.inputs, turn.workflow) == ("slow_echo", {"text": "some text"}, "slow_echo")
    json_turn = parse_message('echo: {"text": "a"}', registry, planner=False)
    assert json_turn.inputs == {"text": "a"}
    assert parse_message("note: free text", registry, planner=True).target == "note: free text"
    picked = parse_message("slow_echo: as typed", registry, planner=False, workflow="echo")  # the web's picker
    assert (picked.target, picked.inputs) == ("echo", {"text": "slow_echo: as typed"})
    assert render_answer({"a": 1, "b": {"c": [1, "x"]}, "d": None}) == "a: 1\nb:\n  c:\n    - 1\n    - x\nd: -"
    assert render_answer("plain") == "plain"


def test_describe_event_lines() -> None:
    from orchestrator.types import Event

    line = describe_event(Event(type="step.finished", run_id="r", step_id="s1", data={
        "agent": "echo", "model": "m:1", "local": False, "latency_ms": 12.3}))
    assert line is not None and "s1" in line and "m:1" in line and "cloud" in line and "12 ms" in line
    escalated = describe_event(Event(type="step.finished", run_id="r", step_id="s2", data={
        "agent": "echo", "model": "m:7b", "local": True, "latency_ms": 80, "cost_usd": 0.00012,
        "escalated_from": ["m:0.5b"]}))
    assert escalated is not None
    assert escalated.split() == ["ok", "s2", "echo", "m:7b", "local", "80", "ms", "$0.000120", "escalated", "from",
                                 "m:0.5b"]
    failed = describe_event(Event(type="step.failed", run_id="r", step_id="s3", data={
        "agent": "split", "model": None, "latency_ms": 1, "error": "bad input"}))
    assert failed is not None and failed.split() == ["ERR", "s3", "split", "-", "1", "ms", "bad", "input"]


# -- the command, over a pipe and in a terminal -----------------------------------------------------


def test_chat_over_a_pipe_prints_only_answers() -> None:
    lines = "echo: piped text\n\nand a task\n/cost\n/quit\necho: never read\n"
    done = subprocess.run([sys.executable, "-m", "orchestrator", "chat", "--app", APP], input=lines,
                          capture_output=True, text=True, timeout=60, env=chat_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[:2] == ["text: PIPED TEXT", "reply: AND A TASK (AFTER 2 TURNS)"]
    assert out[2].startswith("last run: cost $") and "(2 runs)" in out[3]
    assert "you>" not in done.stdout and "never read" not in done.stdout.lower()
    assert "ok  shout" in done.stderr  # progress goes to stderr, out of the answers' way


def test_chat_over_a_pipe_resumes_a_redis_thread(redis_client: aioredis.Redis, keyspace: KeySpace) -> None:
    env = chat_env(ORCH_TEST_REDIS_URL=REDIS_URL, ORCH_TEST_KEY_PREFIX=keyspace.prefix)
    command = [sys.executable, "-m", "orchestrator", "chat", "--app", APP, "--thread", "t-resume"]
    first = subprocess.run(command, input="echo: first\n", capture_output=True, text=True, timeout=60, env=env,
                           cwd=ROOT)
    assert first.stdout == "text: FIRST\n", first.stderr
    second = subprocess.run(command, input="follow up\n", capture_output=True, text=True, timeout=60, env=env,
                            cwd=ROOT)
    assert second.stdout == "reply: FOLLOW UP (AFTER 2 TURNS)\n", second.stderr


def test_chat_without_planner_exits_nonzero_with_a_clear_message() -> None:
    done = subprocess.run([sys.executable, "-m", "orchestrator", "chat", "--app", APP], input="hello\n",
                          capture_output=True, text=True, timeout=60, env=chat_env(ORCH_TEST_NO_PLANNER="1"),
                          cwd=ROOT)
    assert done.returncode == 1
    assert "no planner model is configured" in done.stderr and "echo, slow_echo" in done.stderr


class Terminal:
    """A child process on a pseudo-terminal, read with timeouts."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(ROOT)
            os.execve(argv[0], argv, env)
        self.output = ""

    def expect(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} not seen; output so far:\n{self.output}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"process ended before {text!r}; output:\n{self.output}"
                self.output += chunk.decode(errors="replace").replace("\r\n", "\n")
        return self.output

    def send(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def wait(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.05)[0]:
                    self.output += os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                pass
        raise AssertionError("the chat did not exit")


def test_interactive_chat_in_a_terminal() -> None:
    term = Terminal([sys.executable, "-m", "orchestrator", "chat", "--app", APP], chat_env(ORCH_TEST_DELAY="0.3"))
    term.expect("workflows: echo, slow_echo")
    term.expect("you> ")
    term.send("slow_echo: over a pty")
    out = term.expect("OVER A PTY")
    assert "plan: 2 steps: wait (sleep), shout (echo)" in out
    assert "... wait" in out and "ok  wait" in out and "tool" in out
    assert "ok  shout" in out and "function:small" in out and "local" in out
    shout = next(line for line in out.splitlines() if "ok  shout" in line)  # agent, model, where, time, cost
    assert re.search(r"shout\s+echo\s+function:small\s+local\s+\d+ ms  \$0\.000000$", shout.rstrip()), shout
    term.expect("saved $")
    term.send("/plan")
    term.expect("shout            echo  <- wait")
    term.send("/quit")
    term.expect("bye")
    assert term.wait() == 0
