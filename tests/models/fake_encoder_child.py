"""A stand-in for the encoder process's program that speaks its frames without PyTorch.

``--path`` picks how it behaves: ``plain`` answers every pass (a text's row is its length and
its number of spaces); ``stray`` first writes bytes that are not a frame to its stdout, as a
native library printing would; ``slow`` takes 30 s per pass; ``missing`` reports torch missing;
``bad`` fails to load; ``once`` exits after its first answer.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from orchestrator.models.encoder_child import read_frame, write_frame


def main() -> None:
    mode = sys.argv[sys.argv.index("--path") + 1]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = sys.stdout.buffer
    if mode == "missing":
        write_frame(out, json.dumps({"missing": "torch"}).encode())
        return
    if mode == "bad":
        write_frame(out, json.dumps({"error": "cannot load the sentence-transformers model 'bad': OSError: no such "
                                              "directory"}).encode())
        return
    write_frame(out, json.dumps({"load_seconds": 0.01}).encode())
    while (body := read_frame(sys.stdin.buffer)) is not None:
        texts = json.loads(body)
        if mode == "stray":
            out.write(b"OMP: Info #276: omp_set_nested routine deprecated\n")
        if mode == "slow":
            time.sleep(30)
        import array

        values = array.array("f", [v for t in texts for v in (float(len(t)), float(t.count(" ")))])
        write_frame(out, json.dumps({"rows": len(texts), "dim": 2}).encode())
        write_frame(out, values.tobytes())
        if mode == "once":
            return


if __name__ == "__main__":
    main()
