"""The llama.cpp probe: a build that dies of a signal becomes a ModelError, a good one is proven once.

Each test puts a stand-in llama_cpp package (tests/models/fake_llama_cpp) first on this
process's ``sys.path`` and on its children's ``PYTHONPATH``: ``sigill`` executes an undefined
instruction when it decodes, so the CPU kills the probe child with SIGILL; ``working`` decodes
a fixed answer and counts its loads. The probe never imports llama_cpp in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.errors import ModelError
from orchestrator.models import llamacpp_probe
from orchestrator.models.base import user
from orchestrator.models.check import check_model
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.llamacpp_build import LLAMA_CPP_VERSION, PROFILES, default_profile, machine, rebuild_command
from orchestrator.models.spec import ModelSpec

FAKES = Path(__file__).parent / "fake_llama_cpp"
ROOT = Path(__file__).resolve().parents[2]
UseBuild = Callable[[str], Path]


@pytest.fixture
def use_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UseBuild:
    """``use_build("sigill" | "working")``: that stand-in (a copy) is the installed llama_cpp; the
    probe's cache file and this process's memory of probes start empty."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(llamacpp_probe, "_RESULTS", {})
    monkeypatch.setattr(llamacpp_probe, "_PROVEN", [])

    def use(kind: str) -> Path:
        copy = Path(shutil.copytree(FAKES / kind, tmp_path / kind))
        monkeypatch.syspath_prepend(str(copy))
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(copy), str(ROOT)]))
        return copy

    return use


@pytest.fixture
def loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many times the ``working`` stand-in was loaded (by probe children)."""
    record = tmp_path / "loads.txt"
    monkeypatch.setenv("FAKE_LLAMA_CPP_LOADS", str(record))
    return lambda: len(record.read_text().splitlines()) if record.exists() else 0


def test_a_child_killed_by_sigill_is_reported_by_its_signal(use_build: UseBuild, tmp_path: Path) -> None:
    use_build("sigill")

    result = llamacpp_probe.run_probe(str(tmp_path / "model.gguf"))

    assert (result.ok, result.signal, result.timed_out) == (False, "SIGILL", False)


def test_sigill_becomes_a_model_error_naming_the_cause_and_the_rebuild_command(
    use_build: UseBuild, tmp_path: Path
) -> None:
    use_build("sigill")

    with pytest.raises(ModelError) as caught:
        llamacpp_probe.ensure_runnable("llamacpp:gemma3-270m", lambda: str(tmp_path / "model.gguf"))

    error = caught.value
    assert error.model == "llamacpp:gemma3-270m" and not error.retryable
    assert "killed by SIGILL" in error.reason and "uses instructions this CPU cannot run" in error.reason
    assert rebuild_command(LLAMA_CPP_VERSION) in error.reason
    assert "llama_cpp" not in sys.modules or "fake_llama_cpp" not in str(sys.modules["llama_cpp"].__file__)
    assert not llamacpp_probe.cache_file().exists()  # a failure is not recorded for other processes
    with pytest.raises(ModelError, match="SIGILL"):  # remembered by this process
        llamacpp_probe.ensure_runnable("llamacpp:gemma3-270m", lambda: pytest.fail("probed twice"))


@pytest.mark.allow_model_requests
async def test_the_model_client_raises_the_model_error_instead_of_dying(use_build: UseBuild, tmp_path: Path) -> None:
    use_build("sigill")
    model = LlamaCppModel(ModelSpec(ref=f"llamacpp:{tmp_path / 'model.gguf'}"))

    with pytest.raises(ModelError, match="killed by SIGILL"):
        await model.complete([user("hi")], schema={"type": "object"})  # the grammar waits for the probe too
    with pytest.raises(ModelError, match="killed by SIGILL"):
        await model.embed(["hi"])


@pytest.mark.allow_model_requests
async def test_models_check_reports_the_unusable_build_for_that_model(use_build: UseBuild) -> None:
    use_build("sigill")

    check = await check_model(ModelSpec(name="gemma", ref="llamacpp:gemma3-270m"), timeout=60)

    assert (check.name, check.ok) == ("gemma", False)
    assert check.reason is not None and "killed by SIGILL" in check.reason and "CMAKE_ARGS=" in check.reason


@pytest.mark.allow_model_requests
def test_the_models_check_command_reports_it_for_that_model(use_build: UseBuild, tmp_path: Path) -> None:
    use_build("sigill")  # the command's process and its probe child both see the stand-in

    proc = subprocess.run([sys.executable, "-m", "orchestrator", "models", "check", "gemma", "--json",
                           "--profile", "embedded"], capture_output=True, text=True, cwd=ROOT, timeout=100)

    assert proc.returncode == 1, proc.stderr
    (check,) = json.loads(proc.stdout)
    assert (check["name"], check["ref"], check["ok"]) == ("gemma", "llamacpp:gemma3-270m", False)
    assert "killed by SIGILL" in check["reason"] and "--no-cache-dir" in check["reason"]


def test_a_build_that_decodes_is_probed_once_per_build(
    use_build: UseBuild, loads: Callable[[], int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = use_build("working") / "llama_cpp"
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")

    first = llamacpp_probe.ensure_runnable("llamacpp:x", lambda: str(model))
    assert first is not None and first.ok and first.text == " Paris."
    assert llamacpp_probe.ensure_runnable("llamacpp:x", lambda: str(model)) == first
    assert loads() == 1

    monkeypatch.setattr(llamacpp_probe, "_RESULTS", {})  # a new process: the cache file answers
    monkeypatch.setattr(llamacpp_probe, "_PROVEN", [])
    assert llamacpp_probe.ensure_runnable("llamacpp:x", lambda: pytest.fail("probed again")) == first

    monkeypatch.setattr(llamacpp_probe, "_RESULTS", {})  # a new build (its files changed): probed again
    monkeypatch.setattr(llamacpp_probe, "_PROVEN", [])
    stat = (package / "__init__.py").stat()
    os.utime(package / "__init__.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert llamacpp_probe.ensure_runnable("llamacpp:x", lambda: str(model)) is not None
    assert loads() == 2


def test_a_child_that_fails_otherwise_is_left_to_the_real_load_and_tried_again(
    use_build: UseBuild, loads: Callable[[], int], tmp_path: Path
) -> None:
    use_build("working")
    missing = str(tmp_path / "absent.gguf")

    result = llamacpp_probe.ensure_runnable("llamacpp:x", lambda: missing)

    assert result is not None and not result.ok and result.signal is None
    assert result.detail is not None and "Failed to load model from file" in result.detail
    assert llamacpp_probe.ensure_runnable("llamacpp:x", lambda: missing) is not None
    assert loads() == 2 and not llamacpp_probe.cache_file().exists()


def test_the_rebuild_command_uses_the_portable_flags_and_bypasses_the_wheel_cache() -> None:
    command = rebuild_command("0.3.36", PROFILES["avx2"])

    assert command.startswith('CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" ')
    assert command.endswith('-m pip install --force-reinstall --no-cache-dir --no-deps "llama-cpp-python==0.3.36"')
    assert PROFILES["portable"].flags == ("-DGGML_NATIVE=OFF",) and PROFILES["portable"].arch == "aarch64"
    assert default_profile().arch == machine()


def test_setup_reads_the_pin_and_the_flags_from_the_build_module_without_any_package() -> None:
    script = ROOT / "orchestrator" / "models" / "llamacpp_build.py"

    def run(*args: str) -> str:  # -S: no site-packages, as before set-up installed anything
        return subprocess.run([sys.executable, "-S", str(script), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert run("version") == LLAMA_CPP_VERSION
    assert run("cmake-args", "avx2") == " ".join((*PROFILES["avx2"].flags, "-DLLAVA_BUILD=OFF"))
    assert run("fallback", "avx2") == "sse42" and run("fallback", "sse42") == ""
    assert run("key", "avx2") == "x86_64-avx2"
