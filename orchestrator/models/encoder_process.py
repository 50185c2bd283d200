"""Sentence encoders in their own processes: the encoder's forward passes off this process's GIL.

A pass of all-MiniLM-L6-v2 is a few hundred PyTorch calls from Python; in a thread of the
orchestrator's process each of them waits for the interpreter lock while the event loop runs
the engine's Python, so on a small machine the passes ran slower beside busy runs than alone
(bench/volume.py). An :class:`EncoderProcesses` starts ``processes`` children (the program of
:mod:`orchestrator.models.encoder_child`, run by the same Python), each loading the model once
with ``threads`` PyTorch threads, and hands each pass (:meth:`~EncoderProcesses.aencode`) to an
idle one, so ``processes`` passes can run at once. The rows are the model's own float32 values,
the same as in-process with the same number of threads.

What can go wrong costs one pass at most:

- a child that dies (or sends anything but frames) fails the pass it was running with a
  :class:`ModelError` naming its exit status and the end of its stderr; the next pass starts a
  new child (a load of some seconds);
- a pass whose caller gives up (the model's timeout, a cancelled run) is abandoned: a child
  still running it is stopped, so it cannot hold up the passes after it, and one not started
  yet is skipped;
- Ctrl-C and SIGTERM go to the orchestrator, not the children (their own process group, and
  they ignore both): a batch stops cleanly and a worker drains its jobs with its encoders alive;
- a child ends when its stdin closes: when the orchestrator closes it, exits, or dies however
  it dies (a forked copy of the orchestrator drops the pipes it inherited, and starts children
  of its own if it embeds).
"""

from __future__ import annotations

import array
import asyncio
import atexit
import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import MissingDependency, ModelError
from orchestrator.models import encoder_child as wire

_PROGRAM = str(Path(wire.__file__).resolve())
_STDERR_TAIL = 500
_CLOSE_WAIT = 5.0


class _Pass:
    """One pass's claim on a child: abandoning it stops the child running it, or skips it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.child: _Child | None = None

    def take(self, child: _Child) -> bool:
        with self.lock:
            if self.abandoned:
                return False
            self.child = child
            return True

    def abandon(self) -> None:
        with self.lock:
            self.abandoned = True
            if self.child is not None:
                self.child.stop("its pass was abandoned")


class _Gone(Exception):
    """The child had died before this pass reached it: nothing of the pass was lost."""

    def __init__(self, error: ModelError):
        super().__init__(str(error))
        self.error = error


class _Child:
    """One encoder process and its pipes; used by one pass at a time."""

    def __init__(self, ref: str, command: list[str]):
        self.ref = ref
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  # lives as long as the child
        try:
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                         process_group=0)
        except BaseException:
            self.stderr.close()
            raise
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.stopped: str | None = None
        """Why this side killed it, when it did."""

    def ready(self) -> _Child:
        """Wait until the child has loaded the model (its first frame)."""
        header = self._header()
        if "missing" in header:
            self.close()
            raise MissingDependency(str(header["missing"]), extra="embeddings", needed_for="the st: embedding model")
        return self

    def encode(self, texts: list[str]) -> list[list[float]]:
        """The rows for ``texts``; :class:`_Gone` when the child was dead before it was sent anything."""
        try:
            wire.write_frame(self.stdin, json.dumps(texts).encode())
        except OSError as exc:
            raise _Gone(self._died()) from exc
        header = self._header()
        rows, dim = int(header["rows"]), int(header["dim"])
        values = array.array("f")
        values.frombytes(self._frame())
        if rows != len(texts) or len(values) != rows * dim:
            self.stop("it answered the wrong number of values")
            raise ModelError(self.ref, f"the encoder process answered {rows} x {dim} values for {len(texts)} texts")
        flat = values.tolist()
        return [flat[i * dim:(i + 1) * dim] for i in range(rows)]

    def _frame(self) -> bytes:
        try:
            body = wire.read_frame(self.stdout)
        except (OSError, wire.BrokenStream) as exc:
            self.stop("it sent something that is not a frame")
            raise self._died() from exc
        if body is None:
            raise self._died()
        return body

    def _header(self) -> dict[str, Any]:
        try:
            header: dict[str, Any] = json.loads(self._frame())
        except ValueError as exc:  # not JSON: the stream is out of step
            self.stop("it sent something that is not a frame")
            raise self._died() from exc
        if "error" in header:
            raise ModelError(self.ref, str(header["error"]))
        return header

    def _died(self) -> ModelError:
        code = self._wait(_CLOSE_WAIT)
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 4 * _STDERR_TAIL))
        tail = self.stderr.read().decode(errors="replace").strip()[-_STDERR_TAIL:]
        if self.stopped:
            how = f"was stopped: {self.stopped}"
        else:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ModelError(self.ref, f"the encoder process {how}; it is started again on the next call"
                                    + (f"; its last output: {tail}" if tail else ""), retryable=True)

    def _wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    @property
    def alive(self) -> bool:
        return self.stopped is None and self.proc.poll() is None

    def stop(self, why: str) -> None:
        """Kill the child now (its pass is lost; the reader of its answer gets a ModelError)."""
        self.stopped = why
        with contextlib.suppress(OSError):
            self.proc.kill()

    def end(self) -> None:
        """Close its stdin: the child ends after the pass in hand."""
        with contextlib.suppress(OSError):
            self.stdin.close()

    def close(self, timeout: float = _CLOSE_WAIT) -> None:
        self.end()
        self._wait(timeout)
        self.drop()

    def drop(self) -> None:
        """Close this side's pipes and files without waiting (the child sees its stdin close)."""
        for stream in (self.stdin, self.stdout, self.stderr):
            with contextlib.suppress(OSError):
                stream.close()


class EncoderProcesses:
    """``processes`` encoder children for one model directory."""

    def __init__(self, ref: str, path: str, *, device: str, batch_size: int, processes: int, threads: int,
                 program: str = _PROGRAM):
        self.ref = ref
        self.processes = processes
        self._command = [sys.executable, "-P", program, "--path", path, "--device", device,
                         "--batch-size", str(batch_size), "--threads", str(threads)]
        self._reset()
        try:
            started = [self._spawn() for _ in range(processes)]  # they load side by side
            for child in started:
                self._idle.put(child.ready())
        except BaseException:
            self.close()
            raise

    def _reset(self) -> None:
        self._idle: queue.SimpleQueue[_Child | None] = queue.SimpleQueue()
        self._children: list[_Child] = []
        self._lock = threading.Lock()

    def _spawn(self) -> _Child:
        child = _Child(self.ref, self._command)
        with self._lock:
            gone = [c for c in self._children if not c.alive]
            self._children = [c for c in self._children if c.alive] + [child]
        for old in gone:
            old.close(timeout=0.1)
        return child

    async def aencode(self, texts: list[str]) -> list[list[float]]:
        """One vector per text from the first idle child, off the event loop; a caller that is
        cancelled abandons its pass."""
        claim = _Pass()
        try:
            return await asyncio.to_thread(self.encode, texts, claim)
        except asyncio.CancelledError:
            claim.abandon()
            raise

    def encode(self, texts: list[str], claim: _Pass | None = None) -> list[list[float]]:
        """Blocking: one vector per text from the first idle child (started again first if it had died)."""
        claim = claim or _Pass()
        child = self._idle.get()
        try:
            child = self._alive(child, claim)
            try:
                return self._send(child, texts, claim)
            except _Gone:  # it died while idle (its threads were still exiting): once more, on a new one
                child = self._alive(None, claim)
                return self._send(child, texts, claim)
        except _Gone as gone:
            child = None
            raise gone.error from None
        except BaseException:
            if child is not None and not child.alive:
                child = None  # dead or out of step: the next pass starts a new one
            raise
        finally:
            self._idle.put(child)

    def _alive(self, child: _Child | None, claim: _Pass) -> _Child:
        """``child`` when it is alive, else a new one (none for a pass already abandoned)."""
        if child is not None and child.alive:
            return child
        if claim.abandoned:
            raise self._abandoned()
        return self._spawn().ready()

    def _send(self, child: _Child, texts: list[str], claim: _Pass) -> list[list[float]]:
        if not claim.take(child):
            raise self._abandoned()
        return child.encode(texts)

    def _abandoned(self) -> ModelError:
        return ModelError(self.ref, "the pass was abandoned before it started")

    @property
    def pids(self) -> list[int]:
        """Process ids of the live children (for tests and CPU accounting)."""
        with self._lock:
            return [c.proc.pid for c in self._children if c.alive]

    def close(self) -> None:
        """End every child: close all their stdins first, then wait for them against one deadline."""
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            child.end()
        deadline = time.monotonic() + _CLOSE_WAIT
        for child in children:
            child.close(timeout=max(0.1, deadline - time.monotonic()))

    def _forget_after_fork(self) -> None:
        for child in self._children:
            child.drop()  # the parent's children are not ours; our copy of their pipes must not keep them alive
        self._reset()
        for _ in range(self.processes):
            self._idle.put(None)  # a pass in this process starts children of its own


_OPEN: list[EncoderProcesses] = []


def start(ref: str, path: str, *, device: str, batch_size: int, processes: int, threads: int) -> EncoderProcesses:
    """Start the children (blocking until each has loaded the model); they are closed at exit."""
    encoders = EncoderProcesses(ref, path, device=device, batch_size=batch_size, processes=processes,
                                threads=threads)
    _OPEN.append(encoders)
    return encoders


@atexit.register
def _close_all() -> None:
    while _OPEN:
        _OPEN.pop().close()


def _after_fork() -> None:
    for encoders in _OPEN:
        encoders._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork)


__all__ = ["EncoderProcesses", "start"]
