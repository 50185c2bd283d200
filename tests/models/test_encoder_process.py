"""EncoderProcesses over real child processes speaking the frames (a stand-in program, no PyTorch):
a child that breaks the stream, hangs or is signalled costs its pass at most."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from orchestrator.errors import MissingDependency, ModelError
from orchestrator.models.encoder_process import EncoderProcesses

FAKE = str(Path(__file__).with_name("fake_encoder_child.py"))


def start(mode: str, processes: int = 1) -> EncoderProcesses:
    return EncoderProcesses("st:fake", mode, device="cpu", batch_size=8, processes=processes, threads=1, program=FAKE)


def rows(texts: list[str]) -> list[list[float]]:
    return [[float(len(t)), float(t.count(" "))] for t in texts]


@pytest.fixture
def plain() -> object:
    encoders = start("plain", processes=2)
    yield encoders
    encoders.close()


async def test_passes_come_back_as_float32_rows_in_order(plain: EncoderProcesses) -> None:
    texts = ["a b c", "", "ünïcødé text", "x" * 300]
    assert await plain.aencode(texts) == rows(texts)
    assert await asyncio.gather(*(plain.aencode([t]) for t in texts)) == [rows([t]) for t in texts]
    assert len(plain.pids) == 2


async def test_signals_meant_for_the_orchestrator_do_not_reach_its_encoders(plain: EncoderProcesses) -> None:
    for pid in plain.pids:
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.3)
    assert len(plain.pids) == 2
    assert await plain.aencode(["still here"]) == rows(["still here"])
    assert all(os.getpgid(pid) == pid for pid in plain.pids)  # a process group of its own: no terminal Ctrl-C


async def test_a_child_that_writes_anything_but_frames_fails_that_pass_and_is_replaced() -> None:
    encoders = start("stray")
    try:
        [first] = encoders.pids
        with pytest.raises(ModelError, match="was stopped: it sent something that is not a frame; it is started again"):
            await encoders.aencode(["hello"])
        assert first not in encoders.pids
        with pytest.raises(ModelError):  # the new child is a stray one too, but it was started: no hang
            await encoders.aencode(["again"])
    finally:
        encoders.close()


async def test_an_abandoned_pass_stops_its_child_and_the_next_pass_gets_a_new_one() -> None:
    encoders = start("slow")
    try:
        [first] = encoders.pids
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await encoders.aencode(["takes 30 s"])
        for _ in range(50):  # the abandoned child is killed, not left running its 30 s pass
            if first not in encoders.pids:
                break
            await asyncio.sleep(0.1)
        assert first not in encoders.pids
        waiting = asyncio.create_task(encoders.aencode(["next"]))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # a fresh slow child took it: it did not queue behind the old pass
        assert len(encoders.pids) == 1 and first not in encoders.pids
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        encoders.close()


async def test_a_child_that_died_between_passes_costs_no_pass() -> None:
    encoders = start("once")  # each child exits after one answer
    try:
        for i in range(3):
            assert await encoders.aencode([f"pass {i}"]) == rows([f"pass {i}"])
            for _ in range(100):  # until it has exited (then the next pass starts a new one first)
                if not encoders.pids:
                    break
                await asyncio.sleep(0.05)
    finally:
        encoders.close()


def test_a_child_that_cannot_load_says_why() -> None:
    with pytest.raises(ModelError, match="cannot load the sentence-transformers model 'bad'"):
        start("bad")
    with pytest.raises(MissingDependency, match="torch"):
        start("missing")


def test_close_ends_every_child() -> None:
    encoders = start("plain", processes=3)
    pids = encoders.pids
    assert len(pids) == 3
    encoders.close()
    assert encoders.pids == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
