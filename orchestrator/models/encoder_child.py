"""The encoder process's own program, and the frames it speaks with the orchestrator.

Run by path (``python -P .../encoder_child.py --path DIR ...``, see
:mod:`orchestrator.models.encoder_process`), so a child imports nothing of the orchestrator:
only the standard library, then PyTorch and sentence-transformers to load the model.

Frames on the child's stdin and stdout: a 4-byte big-endian length, then the body. The first
frame out is ``{"load_seconds": s}`` once the model is loaded (or ``{"error": ...}``,
``{"missing": package}``); then each frame in, a JSON list of texts, is answered by a JSON header
``{"rows": n, "dim": d}`` and a frame of ``n * d`` float32 values (the model's own float32 rows),
or by ``{"error": "..."}`` alone. Nothing else may reach the frames: fd 1 is pointed at stderr
once the child has kept its own copy of it, so a native library that prints cannot corrupt them.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import time
from typing import IO, Any

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
"""Bytes: a length above this is not a frame but a broken stream."""


class BrokenStream(Exception):
    """The other side sent something that is not a frame."""


def write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's body, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    if size > MAX_FRAME:
        raise BrokenStream(f"a frame of {size} bytes: the stream is broken")
    body = stream.read(size)
    return body if len(body) == size else None


def _frames_out() -> IO[bytes]:
    """The real stdout for frames; fd 1 (and ``sys.stdout``) go to stderr from now on."""
    frames = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return frames


def _load(path: str, device: str, threads: int) -> tuple[Any, dict[str, Any]]:
    started = time.perf_counter()
    # Between passes the OpenMP threads sleep instead of spinning on the cores the
    # orchestrator's event loop needs (set before torch loads OpenMP).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging
    except ModuleNotFoundError as exc:
        return None, {"missing": (exc.name or "sentence_transformers").split(".")[0]}
    try:
        torch.set_num_threads(threads)
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        encoder = SentenceTransformer(path, device=device)
    except Exception as exc:  # reported to the orchestrator, which raises it
        return None, {"error": f"cannot load the sentence-transformers model {path!r}: {type(exc).__name__}: {exc}"}
    import gc

    gc.collect()
    gc.freeze()
    return encoder, {"load_seconds": time.perf_counter() - started}


def serve(path: str, device: str, batch_size: int, threads: int) -> None:
    """Load the model, then answer passes until stdin closes."""
    # Signals are the orchestrator's business: it stops on Ctrl-C or SIGTERM (a worker drains its
    # jobs first) and closes our stdin, which ends us after the pass in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, _frames_out()
    encoder, ready = _load(path, device, threads)
    write_frame(stdout, json.dumps(ready).encode())
    if encoder is None:
        return
    while (body := read_frame(stdin)) is not None:
        header: dict[str, Any]
        payload: bytes | None = None
        try:
            texts = json.loads(body)
            vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False).astype("float32")
            rows, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
            header, payload = {"rows": int(rows), "dim": int(dim)}, vectors.tobytes()
        except Exception as exc:  # one bad pass fails that pass, not the child
            header = {"error": f"sentence-transformers failed: {type(exc).__name__}: {exc}"}
        write_frame(stdout, json.dumps(header).encode())
        if payload is not None:
            write_frame(stdout, payload)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="serve one sentence encoder over stdin/stdout frames")
    parser.add_argument("--path", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    serve(args.path, args.device, args.batch_size, args.threads)


if __name__ == "__main__":
    main()


__all__ = ["HEADER", "MAX_FRAME", "BrokenStream", "main", "read_frame", "serve", "write_frame"]
