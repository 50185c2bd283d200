"""The llama-cpp-python wheel folder of scripts/setup.sh: build, install, verify, per CPU profile.

Wheels live in ``${XDG_CACHE_HOME:-~/.cache}/slm-orchestrator/wheels/<arch>-<profile>/``,
one per llama-cpp-python version, each built with ``pip wheel --no-cache-dir --no-deps`` and
the profile's flags (orchestrator/models/llamacpp_build.py), so pip's own wheel cache, which
may hold a natively built wheel, is never used for this package. What is installed in the
venv is compared with our wheel through pip's own record of it (``direct_url.json``: the
wheel's sha256), so a llama_cpp from anywhere else (an older set-up, pip's cache) is found
and replaced. ``.venv/llama-cpp-build.json`` records the profile whose wheel was proven on
this CPU (a child process decoded with it), so a fallback profile sticks.

Stdlib only (it runs before the project's dependencies are installed)::

    python scripts/llama_wheel.py profile | has P | build P | install P | mark P | verify | describe
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
MARKER = Path(sys.prefix) / "llama-cpp-build.json"


def _build_module() -> ModuleType:
    """orchestrator/models/llamacpp_build.py, loaded by path (the package's imports need pydantic)."""
    spec = importlib.util.spec_from_file_location("_llamacpp_build", ROOT / "orchestrator/models/llamacpp_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()


def folder(profile: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "slm-orchestrator" / "wheels" / str(BUILD.PROFILES[profile].key)


def wheel(profile: str) -> Path | None:
    """Our wheel of the pinned version for ``profile``, if it was built."""
    found = sorted(folder(profile).glob(f"llama_cpp_python-{BUILD.LLAMA_CPP_VERSION}-*.whl"))
    return found[-1] if found else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed_sha256() -> str | None:
    """The sha256 of the wheel the venv's llama-cpp-python was installed from (pip's record), or
    None when it is not installed or did not come from a wheel file."""
    try:
        record = importlib.metadata.distribution("llama-cpp-python").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        hashes = json.loads(record or "{}").get("archive_info", {}).get("hashes", {})
    except ValueError:
        return None
    value = hashes.get("sha256")
    return value if isinstance(value, str) else None


def cpu() -> str:
    return str(BUILD.cpu_signature())


def marker() -> dict[str, str]:
    try:
        data = json.loads(MARKER.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def profile() -> str:
    """The profile proven on this CPU before (a fallback sticks), else the one that suits it."""
    recorded = marker()
    if recorded.get("cpu") == cpu() and recorded.get("profile") in BUILD.PROFILES:
        return recorded["profile"]
    return str(BUILD.default_profile().name)


def build(profile: str) -> Path:
    """Compile the pinned llama-cpp-python for ``profile`` into its wheel folder."""
    chosen = BUILD.PROFILES[profile]
    target = folder(profile)
    target.mkdir(parents=True, exist_ok=True)
    args = chosen.cmake_args()
    print(f"llama-cpp-python {BUILD.LLAMA_CPP_VERSION}, profile {chosen.key}: CMAKE_ARGS={args}", flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "--wheel-dir", scratch,
                        f"llama-cpp-python=={BUILD.LLAMA_CPP_VERSION}"],
                       env={**os.environ, "CMAKE_ARGS": args}, check=True)
        (built,) = Path(scratch).glob("llama_cpp_python-*.whl")
        final = target / built.name
        shutil.move(built, final)  # same file system: the wheel appears whole or not at all
    return final


def install(profile: str) -> None:
    """Install our wheel for ``profile`` unless the venv already has exactly it."""
    found = wheel(profile)
    if found is None:
        raise SystemExit(f"no llama-cpp-python wheel for the {profile} profile in {folder(profile)}")
    current = installed_sha256()
    if current == sha256(found):
        print(f"llama-cpp-python: {found.name} ({BUILD.PROFILES[profile].key}) is installed")
        return
    note = "replacing a llama-cpp-python that did not come from it" if _any_installed() else "installing"
    print(f"llama-cpp-python: {note}: {found}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(found)],
                   check=True)


def _any_installed() -> bool:
    try:
        importlib.metadata.distribution("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def mark(profile: str) -> None:
    """Record that our wheel for ``profile`` is installed and decoded on this CPU."""
    found = wheel(profile)
    assert found is not None
    MARKER.write_text(json.dumps({"profile": profile, "wheel": str(found), "sha256": sha256(found), "cpu": cpu()}))


def verify() -> bool:
    """Whether the venv holds the wheel recorded as proven on this CPU, unchanged."""
    recorded = marker()
    path = Path(recorded.get("wheel", ""))
    return (recorded.get("cpu") == cpu() and path.is_file() and installed_sha256() == recorded.get("sha256")
            and sha256(path) == recorded.get("sha256"))


def main(argv: list[str]) -> int:
    command, *args = argv or ["verify"]
    if command == "profile":
        print(profile())
    elif command == "has":
        return 0 if wheel(args[0]) is not None else 1
    elif command == "build":
        build(args[0])
    elif command == "install":
        install(args[0])
    elif command == "mark":
        mark(args[0])
    elif command == "verify":
        return 0 if verify() else 1
    elif command == "describe":
        recorded = marker()
        print(f"{Path(recorded.get('wheel', '?')).name}, profile {recorded.get('profile', '?')}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
