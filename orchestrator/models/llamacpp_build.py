"""The portable llama-cpp-python build: the pinned version, the CPU profiles, the rebuild command.

llama-cpp-python compiles llama.cpp with ``GGML_NATIVE`` on by default, i.e. for every
instruction the build machine advertises. A VM may advertise instructions it cannot run
(AVX-512, AMX), and a wheel built on one machine lands on others through pip's cache, so a
native build can die of SIGILL on its first decode. We build for a named **profile** instead,
a fixed instruction set that every CPU of its kind has:

- ``avx2`` (x86-64): SSE4.2, AVX, AVX2, BMI2, FMA, F16C, any x86-64 CPU since 2013;
- ``sse42`` (x86-64): the fallback for CPUs without AVX2, FMA or F16C;
- ``portable`` (arm64): ``GGML_NATIVE=OFF``, the baseline ARMv8 build.

A profile's flags never change under its name: a different set gets a new name, so a wheel
folder keyed by architecture and profile always holds what its name says.

This module is stdlib-only and runs as a script, so ``scripts/setup.sh`` reads the pin and
the flags from here before anything is installed::

    python orchestrator/models/llamacpp_build.py version | profile | cmake-args PROFILE | fallback PROFILE
"""

from __future__ import annotations

import hashlib
import platform
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

LLAMA_CPP_VERSION = "0.3.36"
"""The llama-cpp-python release scripts/setup.sh builds (the one pin of it)."""

BUILD_OPTIONS = ("-DLLAVA_BUILD=OFF",)
"""Options of our own builds that do not touch the instruction set: no multimodal library
(we load text models only; it saves compile time). Not part of a profile's name."""


@dataclass(frozen=True)
class Profile:
    """A named instruction set to build llama.cpp for."""

    name: str
    arch: str
    """``x86_64`` or ``aarch64``, as ``uname -m`` says on Linux."""
    flags: tuple[str, ...]
    """The CMake flags that fix the instruction set."""
    needs: tuple[str, ...] = ()
    """CPU flags (``/proc/cpuinfo``) the build uses beyond the architecture's baseline."""
    fallback: str | None = None
    """The more conservative profile to try when a build of this one dies of a signal."""

    @property
    def key(self) -> str:
        """The wheel folder's name: ``<arch>-<profile>``."""
        return f"{self.arch}-{self.name}"

    def cmake_args(self) -> str:
        """``CMAKE_ARGS`` for our own builds: the profile's flags and :data:`BUILD_OPTIONS`."""
        return " ".join((*self.flags, *BUILD_OPTIONS))


PROFILES = {
    profile.name: profile
    for profile in (
        Profile("avx2", "x86_64", ("-DGGML_NATIVE=OFF", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"),
                needs=("avx", "avx2", "bmi2", "fma", "f16c"), fallback="sse42"),
        Profile("sse42", "x86_64", ("-DGGML_NATIVE=OFF", "-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_BMI2=OFF",
                                    "-DGGML_FMA=OFF", "-DGGML_F16C=OFF"), needs=("sse4_2",)),
        Profile("portable", "aarch64", ("-DGGML_NATIVE=OFF",)),
    )
}


def machine() -> str:
    """This machine's architecture under the names the profiles use."""
    arch = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_signature() -> str:
    """A digest of this CPU's architecture and flags: what a build proven here was proven on."""
    return hashlib.sha256(f"{machine()} {' '.join(sorted(cpu_flags()))}".encode()).hexdigest()


def default_profile() -> Profile:
    """The profile to build on this machine: the first of its architecture whose needs the CPU
    meets (every need is assumed met when the CPU's flags cannot be read)."""
    arch, flags = machine(), cpu_flags()
    candidates = [p for p in PROFILES.values() if p.arch == arch]
    if not candidates:
        raise SystemExit(f"no llama.cpp build profile for the {arch} architecture")
    for profile in candidates:
        if not flags or all(need in flags for need in profile.needs):
            return profile
    return candidates[-1]


def rebuild_command(version: str = LLAMA_CPP_VERSION, profile: Profile | None = None) -> str:
    """The command that reinstalls llama-cpp-python ``version`` built for ``profile`` (by default
    the one that suits this CPU), bypassing pip's wheel cache."""
    chosen = profile or default_profile()
    return (f'CMAKE_ARGS="{" ".join(chosen.flags)}" {shlex.quote(sys.executable)} -m pip install '
            f'--force-reinstall --no-cache-dir --no-deps "llama-cpp-python=={version}"')


def main(argv: list[str]) -> int:
    """The script interface used by scripts/setup.sh."""
    command, *args = argv or ["profile"]
    if command == "version":
        print(LLAMA_CPP_VERSION)
    elif command == "profile":
        print(default_profile().name)
    elif command == "key" and args:
        print(PROFILES[args[0]].key)
    elif command == "cmake-args" and args:
        print(PROFILES[args[0]].cmake_args())
    elif command == "fallback" and args:
        print(PROFILES[args[0]].fallback or "")
    else:
        print("usage: llamacpp_build.py version | profile | key P | cmake-args P | fallback P", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


__all__ = ["BUILD_OPTIONS", "LLAMA_CPP_VERSION", "PROFILES", "Profile", "cpu_flags", "cpu_signature",
           "default_profile", "machine", "rebuild_command"]
