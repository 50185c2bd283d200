"""all-MiniLM-L6-v2 in encoder processes: the same vectors as in this process, and a child that
dies, is interrupted or is left behind never costs more than the pass it was running."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.errors import ModelError
from orchestrator.models.sentence import SentenceTransformerModel, pids
from orchestrator.models.spec import ModelSpec

pytestmark = [pytest.mark.integration, pytest.mark.allow_model_requests]
pytest.importorskip("sentence_transformers")

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["I still have not received my new card.", "Why was I charged a fee for my transfer?",
         "How do I top up with Apple Pay?", "My PIN is blocked"]


def encoder(processes: int, **options: object) -> SentenceTransformerModel:
    return SentenceTransformerModel(ModelSpec(ref="st:all-minilm-l6-v2",
                                              options={"processes": processes, "cache_size": 0, **options}))


def gone(pid: int, within: float = 20) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").is_file() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True  # exited, waiting for its parent to reap it
        time.sleep(0.1)
    return False


async def test_an_encoder_process_gives_the_vectors_this_process_gives() -> None:
    here, there = encoder(0), encoder(1)
    assert await here.embed(TEXTS) == await there.embed(TEXTS)  # float32 rows, bit for bit
    assert pids(here) == [] and len(pids(there)) == 1


async def test_two_processes_run_two_passes_at_once() -> None:
    model = encoder(2, threads=1, max_batch=2)
    await model.embed(["warm-up"])
    assert len(set(pids(model))) == 2
    many = [f"ticket {i}: {TEXTS[i % 4]}" for i in range(24)]
    alone = await encoder(0).embed(many)
    together = await asyncio.gather(*(model.embed([t]) for t in many))
    stats = (await model.batcher()).stats
    assert stats.passes >= 12 and max(stats.sizes) <= 2
    np = pytest.importorskip("numpy")
    assert np.allclose(np.asarray([rows[0] for rows in together]), np.asarray(alone), atol=1e-5)


async def test_a_child_killed_mid_pass_fails_that_pass_and_the_next_call_starts_another() -> None:
    model = encoder(1, max_batch=4096)
    await model.embed(["warm-up"])
    [first] = pids(model)
    long_pass = asyncio.create_task(model.embed([f"{TEXTS[i % 4]} number {i}" for i in range(3000)]))
    await asyncio.sleep(1.0)  # the pass is running: thousands of texts take seconds
    os.kill(first, signal.SIGKILL)
    with pytest.raises(ModelError, match="the encoder process was killed by signal 9; it is started again"):
        await long_pass
    assert await model.embed(TEXTS) == await encoder(0).embed(TEXTS)
    [second] = pids(model)
    assert second != first


async def test_a_child_that_died_while_idle_is_replaced_without_failing_a_call() -> None:
    model = encoder(1, batch_size=16)  # its own children: the other tests' are not touched
    await model.embed(["warm-up"])
    [first] = pids(model)
    os.kill(first, signal.SIGKILL)
    for _ in range(200):  # until it can be reaped (its threads exit after the main one)
        if first not in pids(model):
            break
        await asyncio.sleep(0.05)
    assert len(await model.embed(TEXTS)) == 4
    assert pids(model) != [first]


async def test_ctrl_c_reaches_the_orchestrator_not_the_encoder() -> None:
    model = encoder(1, batch_size=8)
    before = await model.embed(TEXTS)
    [child] = pids(model)
    os.kill(child, signal.SIGINT)
    await asyncio.sleep(0.5)
    assert pids(model) == [child]
    assert await model.embed(TEXTS) == before


SCRIPT = """
import asyncio, os, sys
from orchestrator.models.guard import model_requests
from orchestrator.models.sentence import SentenceTransformerModel, pids
from orchestrator.models.spec import ModelSpec

async def main():
    model = SentenceTransformerModel(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": 2}))
    await model.embed(["hello"])
    print(*pids(model), flush=True)

with model_requests(allowed=True):
    asyncio.run(main())
if sys.argv[1] == "abrupt":
    os._exit(0)  # no clean-up at all: the children must notice by themselves
"""


@pytest.mark.parametrize("how", ["clean", "abrupt"])
def test_children_never_outlive_the_orchestrator(how: str) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, how], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    children = [int(pid) for pid in proc.stdout.split()]
    assert len(children) == 2
    assert all(gone(pid) for pid in children)


async def test_a_model_that_cannot_load_says_so_and_what_it_tried() -> None:
    model = SentenceTransformerModel(ModelSpec(ref="st:/nonexistent/encoder", options={"processes": 1}))
    with pytest.raises(ModelError, match="cannot load the sentence-transformers model '/nonexistent/encoder'"):
        await model.embed(["hello"])
