"""A stand-in for a llama.cpp build that uses instructions this CPU cannot run.

Its decode executes an undefined instruction (x86-64 ``ud2``, arm64 ``udf``) from executable
memory, so the CPU itself raises SIGILL, as a native build does on a CPU that lacks what it
was built for; where executable memory cannot be had, it sends itself SIGILL. Only probe
children import it: ``tests/models`` puts this folder first on their ``PYTHONPATH``.
"""

import ctypes
import mmap
import os
import platform
import signal
from typing import Any

_UNDEFINED = {"x86_64": b"\x0f\x0b", "amd64": b"\x0f\x0b", "aarch64": b"\x00\x00\x00\x00", "arm64": b"\x00\x00\x00\x00"}


def _illegal_instruction() -> None:
    code = _UNDEFINED.get(platform.machine().lower())
    if code is not None:
        try:
            page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        except (OSError, ValueError):
            page = None
        if page is not None:
            page.write(code)
            address = ctypes.addressof(ctypes.c_char.from_buffer(page))
            ctypes.CFUNCTYPE(None)(address)()
    os.kill(os.getpid(), signal.SIGILL)


class Llama:
    def __init__(self, model_path: str, **kwargs: Any) -> None:
        self.model_path = model_path

    def create_completion(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        _illegal_instruction()
        raise AssertionError("unreachable")

    def close(self) -> None:
        pass
