"""Sentence encoders in their own processes: the encoder's forward passes off this process's GIL.

A pass of all-MiniLM-L6-v2 is a few hundred PyTorch calls from Python; in a thread of the
orchestrator's process each of them waits for the interpreter lock while the event loop runs
the engine's Python, so on a small machine the passes ran two to three times slower beside
busy runs than alone (bench/volume.py). An :class:`EncoderProcesses` starts ``processes``
children (this module's :func:`main`, run by the same Python), each loading the model once with
``threads`` PyTorch threads, and hands each blocking :meth:`~EncoderProcesses.encode` call to an
idle one, so ``processes`` passes can run at once.

The wire is the children's stdin and stdout: frames of a 4-byte big-endian length and a body;
a request is a JSON list of texts, an answer a JSON header (``{"rows": n, "dim": d}`` or
``{"error": "..."}``) followed, when it has rows, by a frame of ``n * d`` float32 values, the
same float32 vectors the model gives in-process, so results do not depend on where it ran.
A child ignores SIGINT (Ctrl-C stops the orchestrator, which then closes it; a batch stops
cleanly instead of failing its items in flight) and ends when its stdin closes, so it never
outlives the orchestrator. A child that dies fails the pass in flight with a :class:`ModelError`
naming its exit status and the end of its stderr, and is started again by the next call.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from orchestrator.errors import ModelError

_HEADER = struct.Struct(">I")
_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = f"import sys; sys.path.insert(0, {_ROOT!r}); from {__name__} import main; main()"
"""The child's program: this module from wherever this process imported it (a checkout or site-packages)."""
_STDERR_TAIL = 2000


def _write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's body, or None at the end of the stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    return body if len(body) == size else None


class _Child:
    """One encoder process and its pipes; used by one caller at a time."""

    def __init__(self, ref: str, command: list[str]):
        self.ref = ref
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  # lives as long as the child
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.dim = 0

    def ready(self) -> _Child:
        """Wait until the child has loaded the model (its first frame)."""
        self.dim = int(self._answer()["dim"])
        return self

    def encode(self, texts: list[str]) -> list[list[float]]:
        assert self.proc.stdin is not None
        try:
            _write_frame(self.proc.stdin, json.dumps(texts).encode())
        except (BrokenPipeError, OSError) as exc:
            raise self._died() from exc
        header = self._answer()
        rows, dim = int(header["rows"]), int(header["dim"])
        body = self._frame()
        values = array.array("f")
        values.frombytes(body)
        if len(values) != rows * dim:
            raise ModelError(self.ref, f"the encoder process sent {len(values)} values for {rows} x {dim}")
        flat = values.tolist()
        return [flat[i * dim:(i + 1) * dim] for i in range(rows)]

    def _frame(self) -> bytes:
        assert self.proc.stdout is not None
        body = _read_frame(self.proc.stdout)
        if body is None:
            raise self._died()
        return body

    def _answer(self) -> dict[str, Any]:
        header: dict[str, Any] = json.loads(self._frame())
        if "error" in header:
            raise ModelError(self.ref, str(header["error"]))
        return header

    def _died(self) -> ModelError:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - _STDERR_TAIL))
        tail = self.stderr.read().decode(errors="replace").strip()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return ModelError(self.ref, f"the encoder process {how}; it is started again on the next call"
                                    + (f"; its last output: {tail[-500:]}" if tail else ""), retryable=True)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 5) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


class EncoderProcesses:
    """``processes`` encoder children for one model directory; :meth:`encode` blocks (call it in a thread)."""

    def __init__(self, ref: str, path: str, *, device: str, batch_size: int, processes: int, threads: int):
        self.ref = ref
        self.processes = processes
        self._command = [sys.executable, "-c", _CHILD, "--path", path, "--device", device,
                         "--batch-size", str(batch_size), "--threads", str(threads)]
        self._idle: queue.SimpleQueue[_Child | None] = queue.SimpleQueue()
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        started = [self._spawn() for _ in range(processes)]  # they load side by side
        try:
            for child in started:
                self._idle.put(child.ready())
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> _Child:
        child = _Child(self.ref, self._command)
        with self._lock:
            self._children = [c for c in self._children if c.alive] + [child]
        return child

    def encode(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, from the first idle child (started again first if it had died)."""
        child = self._idle.get()
        try:
            if child is None or not child.alive:
                child = self._spawn().ready()
            return child.encode(texts)
        except ModelError:
            if child is not None and not child.alive:
                child = None  # dead: the next call starts a new one
            raise
        finally:
            self._idle.put(child)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live children (for tests and CPU accounting)."""
        with self._lock:
            return [c.proc.pid for c in self._children if c.alive]

    def close(self) -> None:
        """Close every child (each ends when its stdin closes)."""
        with self._lock:
            children, self._children = self._children, []
        for child in children:
            child.close()


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


def _serve(path: str, device: str, batch_size: int, threads: int) -> None:  # pragma: no cover - runs in the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops on Ctrl-C and closes us
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing printed by a library may corrupt the frames
    started = time.perf_counter()
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # Between passes the OpenMP threads sleep instead of spinning on the cores the
        # orchestrator's event loop needs (set before torch loads OpenMP).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        torch.set_num_threads(threads)
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        encoder = SentenceTransformer(path, device=device)
        dim = int(encoder.get_sentence_embedding_dimension() or 0)
    except Exception as exc:  # reported to the parent, which raises it
        _write_frame(stdout, json.dumps({"error": f"cannot load the sentence-transformers model {path!r}: "
                                                  f"{type(exc).__name__}: {exc}"}).encode())
        return
    import gc

    gc.collect()
    gc.freeze()
    _write_frame(stdout, json.dumps({"dim": dim, "load_seconds": time.perf_counter() - started}).encode())
    while (body := _read_frame(stdin)) is not None:
        header: dict[str, Any]
        payload: bytes | None
        try:
            texts = json.loads(body)
            vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
            header, payload = {"rows": len(texts), "dim": dim}, vectors.astype("float32").tobytes()
        except Exception as exc:  # one bad pass fails that pass, not the child
            header, payload = {"error": f"sentence-transformers failed: {type(exc).__name__}: {exc}"}, None
        _write_frame(stdout, json.dumps(header).encode())
        if payload is not None:
            _write_frame(stdout, payload)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - runs in the child
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description="serve one sentence encoder")
    parser.add_argument("--path", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    _serve(args.path, args.device, args.batch_size, args.threads)


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["EncoderProcesses", "start"]
