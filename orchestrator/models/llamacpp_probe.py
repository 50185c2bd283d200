"""The llama.cpp probe: a child process loads a model and decodes a few tokens before we do.

A llama.cpp build that uses instructions this CPU cannot run (built natively on another
machine, or for AVX-512/AMX that a VM advertises but traps) kills its process with SIGILL at
the first decode: no exception, no message, and every job the process holds is lost. So
before the first in-process load, :func:`ensure_runnable` runs that load and a short decode
in a child. A child killed by a signal becomes a :class:`~orchestrator.errors.ModelError`
naming the signal, the cause and the rebuild command; this process never touches the build.

A child that decodes is recorded in a small JSON cache file
(``$XDG_CACHE_HOME/slm-orchestrator/llamacpp-probe.json``) under a fingerprint of the build
(the ``llama_cpp`` package's shared libraries: path, size, mtime) and of this CPU (its
flags), so the probe runs once per build and CPU, not once per process. Failures are not
written there, only remembered by the process that saw them.

``python -m orchestrator.models.llamacpp_probe [--model PATH] [--fresh]`` runs the probe and
says what happened (exit status 0: it decoded; 3: killed by a signal; 1: it failed
otherwise); ``scripts/setup.sh`` proves a new build with it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.machinery
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from pydantic import BaseModel

from orchestrator.errors import ModelError
from orchestrator.models.llamacpp_build import LLAMA_CPP_VERSION, cpu_signature, rebuild_command

log = structlog.get_logger(__name__)

PROBE_TIMEOUT = 120.0
"""Seconds the child may take (Gemma 3 270M needs about two)."""
PROMPT = "The capital of France is"
KILLED_EXIT = 3
"""``main``'s exit status when the child was killed by a signal."""

_CHILD = """\
import json, sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, verbose=False)
out = llm.create_completion(sys.argv[2], max_tokens=4, temperature=0.0)
llm.close()
print(json.dumps({"text": out["choices"][0]["text"], "tokens": out["usage"]["completion_tokens"]}))
"""
_LIBRARY_SUFFIXES = (".so", ".dylib", ".dll")


class ProbeResult(BaseModel):
    """What one probe child did."""

    ok: bool
    """Whether the child loaded the model and decoded."""
    seconds: float
    """How long the child ran."""
    signal: str | None = None
    """The signal that killed the child (``SIGILL``), if one did."""
    timed_out: bool = False
    text: str | None = None
    """The tokens the child decoded."""
    detail: str | None = None
    """The end of the child's error output, when it failed."""


_RESULTS: dict[str, ProbeResult] = {}
"""Probe outcomes this process saw, by build fingerprint (decoded, or killed by a signal)."""
_PROVEN: list[ProbeResult] = []
"""The probe that proved a build for this process, once one has."""
_LOCK = threading.Lock()


def llama_cpp_dir() -> Path | None:
    """The ``llama_cpp`` package a fresh child would import (found on ``sys.path`` without
    importing it), or None when it is not installed."""
    spec = importlib.machinery.PathFinder.find_spec("llama_cpp", sys.path)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def build_fingerprint() -> str | None:
    """A digest of the installed build (its shared libraries' paths, sizes and mtimes, or its
    ``__init__.py`` when it has none) and of this CPU, or None when llama_cpp is not installed."""
    package = llama_cpp_dir()
    if package is None:
        return None
    files = sorted(p for p in package.rglob("*") if p.is_file() and _is_library(p.name))
    digest = hashlib.sha256(cpu_signature().encode())
    for path in files or [package / "__init__.py"]:
        stat = path.stat()
        digest.update(f"\n{path} {stat.st_size} {stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _is_library(name: str) -> bool:
    return name.endswith(_LIBRARY_SUFFIXES) or ".so." in name


def cache_file() -> Path:
    """Where successful probes are recorded."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slm-orchestrator" / "llamacpp-probe.json"


def run_probe(model_path: str, *, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """Load ``model_path`` and decode four tokens in a child process; never raises."""
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, model_path, PROMPT], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ProbeResult(ok=False, timed_out=True, seconds=round(time.perf_counter() - started, 3),
                           detail=f"no answer within {timeout:g}s")
    seconds = round(time.perf_counter() - started, 3)
    detail = "\n".join(proc.stderr.strip().splitlines()[-5:]) or None
    if proc.returncode < 0:
        return ProbeResult(ok=False, seconds=seconds, signal=_signal_name(-proc.returncode), detail=detail)
    if proc.returncode != 0:
        return ProbeResult(ok=False, seconds=seconds, detail=detail or f"exit status {proc.returncode}")
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return ProbeResult(ok=False, seconds=seconds, detail=f"unreadable answer: {proc.stdout[-200:]!r}")
    return ProbeResult(ok=True, seconds=seconds, text=str(answer["text"]))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def ensure_runnable(ref: str, probe_model: Callable[[], str]) -> ProbeResult | None:
    """Prove, once per build and CPU, that llama.cpp runs here; call it before the first load.

    ``probe_model`` gives the GGUF file to probe with (called only when a probe runs). Returns
    the probe's result, or None when llama_cpp is not installed. Raises :class:`ModelError`
    for ``ref`` when the child was killed by a signal, or did not finish in time; a child that
    failed otherwise (a Python exception: a missing file, a bad model) is logged and left to
    the real load, which raises where the child did, and the next load probes again."""
    if _PROVEN:  # llama.cpp may be loaded in this process by now: what is on disk no longer matters
        return _PROVEN[0]
    fingerprint = build_fingerprint()
    if fingerprint is None:
        return None
    with _LOCK:
        result = _RESULTS.get(fingerprint) or _cached(fingerprint)
        if result is None:
            result = run_probe(probe_model())
            log.info("llamacpp.probe", ok=result.ok, seconds=result.seconds, signal=result.signal)
            if result.ok:
                _record(fingerprint, result)
            elif not result.signal and not result.timed_out:
                log.warning("llamacpp.probe.inconclusive", detail=result.detail)
        if result.ok or result.signal:  # an inconclusive child is tried again by the next load
            _RESULTS[fingerprint] = result
        if result.ok:
            _PROVEN[:] = [result]
    if result.signal:
        raise unusable_build(ref, result)
    if result.timed_out:
        raise ModelError(ref, f"the llama.cpp probe (load a model, decode four tokens in a child process) "
                         f"gave {result.detail}; the machine may be overloaded, try again", retryable=True)
    return result


def unusable_build(ref: str, result: ProbeResult) -> ModelError:
    """The error for a probe child that ``result`` says was killed by a signal."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = LLAMA_CPP_VERSION
    if result.signal == "SIGILL":
        cause = (f"llama.cpp was killed by SIGILL (illegal instruction) in a probe process: the installed "
                 f"llama-cpp-python {version} build uses instructions this CPU cannot run (it was built "
                 "natively, on or for another CPU)")
    else:
        cause = (f"llama.cpp was killed by {result.signal} in a probe process: the installed llama-cpp-python "
                 f"{version} build is broken or uses instructions this CPU cannot run")
    return ModelError(ref, f"{cause}. Rebuild it portably: {rebuild_command(version)} "
                      "(in a checkout of slm-orchestrator: bash scripts/setup.sh)")


def _cached(fingerprint: str) -> ProbeResult | None:
    entry = _read_cache().get(fingerprint)
    return ProbeResult.model_validate(entry) if isinstance(entry, dict) else None


def _read_cache() -> dict[str, object]:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(fingerprint: str, result: ProbeResult) -> None:
    """Add ``result`` to the cache file (atomically; a failure to write is only logged)."""
    path = cache_file()
    entries = {**_read_cache(), fingerprint: result.model_dump(mode="json")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".llamacpp-probe-")
    except OSError as exc:
        log.warning("llamacpp.probe.unrecorded", path=str(path), error=str(exc))
        return
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(entries, out, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        log.warning("llamacpp.probe.unrecorded", path=str(path), error=str(exc))


def main(argv: list[str] | None = None) -> int:
    """Probe the installed build with ``--model`` (default: Gemma 3 270M) and print the outcome."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.models.llamacpp_probe")
    parser.add_argument("--model", help="a GGUF file (default: Gemma 3 270M from its wheel)")
    parser.add_argument("--fresh", action="store_true", help="probe even if this build is recorded as fine")
    args = parser.parse_args(argv)
    fingerprint = build_fingerprint()
    if fingerprint is None:
        print("llama.cpp probe: llama_cpp is not installed", file=sys.stderr)
        return 1
    cached = None if args.fresh else _cached(fingerprint)
    if cached is not None:
        print(f"llama.cpp probe: this build already decoded on this CPU ({cached.text!r}, {cached.seconds:.1f}s)")
        return 0
    if args.model is None:
        from orchestrator.models.llamacpp import GEMMA_3_270M, resolve_path

        args.model = resolve_path(GEMMA_3_270M)
    result = run_probe(args.model)
    if result.ok:
        _record(fingerprint, result)
        print(f"llama.cpp probe: loaded {Path(args.model).name} and decoded {PROMPT!r} -> {result.text!r} "
              f"in a child process ({result.seconds:.1f}s)")
        return 0
    if result.signal:
        print(f"llama.cpp probe: {unusable_build('llamacpp', result).reason}", file=sys.stderr)
        return KILLED_EXIT
    print(f"llama.cpp probe failed: {result.detail}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["KILLED_EXIT", "PROBE_TIMEOUT", "ProbeResult", "build_fingerprint", "cache_file", "ensure_runnable",
           "llama_cpp_dir", "main", "run_probe", "unusable_build"]
