"""EmbeddingBatcher: concurrent calls share passes, results equal unbatched ones, the cache, failures."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from orchestrator.models.batcher import BatchOptions, EmbeddingBatcher
from orchestrator.models.sentence import SentenceTransformerModel, default_processes
from orchestrator.models.spec import ModelSpec, create_model
from tests.loop_lag import LoopLag


def vector(text: str) -> list[float]:
    """A deterministic stand-in for an encoder's row."""
    return [float(len(text)), float(sum(map(ord, text)) % 97), float(text.count(" "))]


class Recorder:
    """An encode function that records each pass and takes a little time, like a model."""

    def __init__(self, fail: bool = False):
        self.passes: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail = fail

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.passes.append(list(texts))
        self.threads.add(threading.get_ident())
        time.sleep(0.005)
        if self.fail:
            raise RuntimeError("the encoder broke")
        return [vector(t) for t in texts]


TEXTS = [[f"ticket {i} sentence {j}" for j in range(i % 3 + 1)] for i in range(24)]


async def test_concurrent_calls_share_passes_and_get_their_own_rows() -> None:
    encode = Recorder()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_batch=16, max_wait_ms=5, cache_size=0))

    results = await asyncio.gather(*(batcher.embed(texts) for texts in TEXTS))

    assert results == [[vector(t) for t in texts] for texts in TEXTS]  # batched == unbatched
    assert len(encode.passes) < len(TEXTS) / 2
    assert all(len(p) <= 16 for p in encode.passes)
    assert sum(len(p) for p in encode.passes) == sum(len(t) for t in TEXTS)
    assert threading.get_ident() not in encode.threads  # encoded off the event loop
    assert batcher.stats.calls == len(TEXTS) and batcher.stats.passes == len(encode.passes)


async def test_a_call_bigger_than_max_batch_goes_alone_and_whole() -> None:
    encode = Recorder()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_batch=4, max_wait_ms=1))
    big = [f"text {i}" for i in range(10)]

    small, large = await asyncio.gather(batcher.embed(["alone"]), batcher.embed(big))

    assert small == [vector("alone")] and large == [vector(t) for t in big]
    assert sorted(map(len, encode.passes)) == [1, 10]


async def test_identical_texts_are_encoded_once() -> None:
    encode = Recorder()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_wait_ms=1))
    ticket = ["My card was charged twice.", "Please refund me."]

    first = await asyncio.gather(batcher.embed(ticket), batcher.embed([*ticket, ticket[0]]))
    again = await batcher.embed([ticket[1]])

    assert list(first) == [[vector(t) for t in ticket], [vector(t) for t in [*ticket, ticket[0]]]]
    assert again == [vector(ticket[1])]
    assert [t for p in encode.passes for t in p] == ticket
    assert batcher.stats.cached == 2  # the repeat inside the second call, and the third call


async def test_the_cache_keeps_only_the_most_recent_texts() -> None:
    encode = Recorder()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_wait_ms=0, cache_size=2))
    for text in ("a", "b", "c", "a"):
        await batcher.embed([text])
    assert [p[0] for p in encode.passes] == ["a", "b", "c", "a"]  # "a" had been pushed out
    batcher.forget()
    await batcher.embed(["a"])
    assert len(encode.passes) == 5


async def test_a_failed_pass_fails_its_callers_and_the_next_pass_runs() -> None:
    encode = Recorder(fail=True)
    batcher = EmbeddingBatcher(encode, BatchOptions(max_wait_ms=5))

    outcomes = await asyncio.gather(batcher.embed(["x"]), batcher.embed(["y"]), return_exceptions=True)

    assert all(isinstance(o, RuntimeError) for o in outcomes)
    encode.fail = False
    assert await batcher.embed(["x"]) == [vector("x")]


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    encode = Recorder()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_wait_ms=20))
    gone = asyncio.create_task(batcher.embed(["gone"]))
    stays = asyncio.create_task(batcher.embed(["stays"]))
    await asyncio.sleep(0)
    gone.cancel()

    assert await stays == [vector("stays")]
    assert gone.cancelled()
    assert encode.passes == [["stays"]]


async def test_aclose_cancels_waiting_callers() -> None:
    batcher = EmbeddingBatcher(Recorder(), BatchOptions(max_wait_ms=10_000))
    waiting = asyncio.create_task(batcher.embed(["never"]))
    await asyncio.sleep(0)
    await batcher.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_batcher_closed_then_used_again_answers() -> None:
    batcher = EmbeddingBatcher(Recorder(), BatchOptions(max_wait_ms=1))
    first = asyncio.create_task(batcher.embed(["one"]))
    await asyncio.sleep(0)  # its drain is created but has not run yet
    await batcher.aclose()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await batcher.embed(["two"]) == [vector("two")]


def test_batching_is_configured_by_model_options() -> None:
    model = create_model(ModelSpec(ref="st:all-minilm-l6-v2",
                                   options={"max_batch": 8, "max_wait_ms": 0.5, "cache_size": 0}))
    assert isinstance(model, SentenceTransformerModel)
    assert model.batching == BatchOptions(max_batch=8, max_wait_ms=0.5, cache_size=0, passes=default_processes())
    assert model.where.processes == default_processes() == min(4, len(os.sched_getaffinity(0)))


def test_each_encoder_process_takes_a_pass_at_a_time() -> None:
    three = create_model(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": 3, "threads": 1}))
    here = create_model(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": 0}))
    assert isinstance(three, SentenceTransformerModel) and isinstance(here, SentenceTransformerModel)
    assert three.batching.passes == 3 and three.where.threads == 1
    assert here.batching.passes == 1 and here.where.processes == 0
    with pytest.raises(ValueError, match=r"options.processes must be 0 \(in this process\) or more"):
        create_model(ModelSpec(ref="st:all-minilm-l6-v2", options={"processes": -1}))


class Overlap(Recorder):
    """Records how many passes ran at the same moment."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return super().__call__(texts)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("passes", [1, 2, 3])
async def test_up_to_passes_passes_run_at_once_and_every_caller_gets_its_rows(passes: int) -> None:
    encode = Overlap()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_batch=4, max_wait_ms=1, cache_size=0, passes=passes))

    results = await asyncio.gather(*(batcher.embed(texts) for texts in TEXTS))

    assert results == [[vector(t) for t in texts] for texts in TEXTS]
    assert encode.most == passes  # 48 texts in passes of at most 4: enough to keep every slot busy
    assert sum(len(p) for p in encode.passes) == sum(len(t) for t in TEXTS)
    assert not batcher._drains  # every drain ended with the queue empty


async def test_calls_arriving_during_a_pass_start_the_next_one_with_a_free_slot() -> None:
    encode = Overlap()
    batcher = EmbeddingBatcher(encode, BatchOptions(max_batch=64, max_wait_ms=1, cache_size=0, passes=2))
    first = asyncio.create_task(batcher.embed(["first"]))
    await asyncio.sleep(0.02)  # the first pass is running (it takes 50 ms)
    assert await batcher.embed(["second"]) == [vector("second")]
    assert await first == [vector("first")]
    assert encode.most == 2 and encode.passes == [["first"], ["second"]]  # the second ran beside the first


@pytest.mark.integration
@pytest.mark.allow_model_requests
async def test_real_batched_embeddings_equal_unbatched_ones() -> None:
    pytest.importorskip("sentence_transformers")
    np = pytest.importorskip("numpy")
    texts = ["I still have not received my new card.", "Why was I charged a fee for my transfer?",
             "How do I top up with Apple Pay?", "My PIN is blocked", "Is there a limit on cash withdrawals?"]
    alone = create_model(ModelSpec(ref="st:all-minilm-l6-v2", options={"max_batch": 1, "cache_size": 0}))
    batched = create_model(ModelSpec(ref="st:all-minilm-l6-v2", options={"max_wait_ms": 20, "cache_size": 0}))
    try:
        one_by_one = [(await alone.embed([t]))[0] for t in texts]
        together = await asyncio.gather(*(batched.embed([t]) for t in texts))
        assert isinstance(batched, SentenceTransformerModel)
        assert (await batched.batcher()).stats.passes == 1
    finally:
        await alone.aclose()
        await batched.aclose()
    # one pass pads the texts to a common length: the same vectors up to float rounding
    assert np.allclose(np.asarray(one_by_one), np.asarray([rows[0] for rows in together]), atol=1e-5)


async def test_encoding_runs_off_the_event_loop() -> None:
    def slow(texts: list[str]) -> list[list[float]]:
        time.sleep(1.5)  # a forward pass longer than the stall bound: on the loop it would fail the test
        return [vector(t) for t in texts]

    batcher = EmbeddingBatcher(slow, BatchOptions(max_batch=2, max_wait_ms=1))
    async with LoopLag() as lag:
        results = await asyncio.gather(*(batcher.embed([f"t{i}"]) for i in range(4)))
    assert results == [[vector(f"t{i}")] for i in range(4)]
    assert batcher.stats.passes == 2
    assert lag.ticks > 0 and lag.worst < 1.0  # no single stall of a second while passes ran for 3 s
