"""A loaded llama.cpp model's context pool, without weights: lending, opening on demand, waiting,
giving up, and the threads each context gets. The real contexts run in
tests/integration/test_llamacpp_contexts_gemma.py."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from orchestrator.errors import ModelError
from orchestrator.models.llamacpp import LlamaCppModel
from orchestrator.models.llamacpp_contexts import Abandoned, ContextPool, _Context
from orchestrator.models.spec import ModelSpec


class Opened(ContextPool):
    """A pool whose new contexts are plain objects (or, once ``failing``, cannot be opened)."""

    def __init__(self) -> None:
        super().__init__(object())
        self.failing = False
        self.applied: list[tuple[Any, tuple[int, int]]] = []

    def _open(self) -> _Context | None:
        return None if self.failing else _Context(object(), busy=True)

    def _set_threads(self, llama: Any, threads: tuple[int, int]) -> None:
        self.applied.append((llama, threads))


def test_a_lone_caller_always_gets_the_first_context() -> None:
    pool = Opened()
    stop = threading.Event()
    for _ in range(3):
        with pool.context(4, stop) as llama:
            assert llama is pool.base
    assert pool.size == 1


def test_contexts_are_opened_while_every_open_one_is_busy_up_to_the_limit() -> None:
    pool = Opened()
    stop = threading.Event()
    with pool.context(2, stop) as first, pool.context(2, stop) as second:
        assert first is pool.base and second is not first
        assert pool.size == 2
        stop.set()  # at the limit, a third caller waits; once its caller gives up, it leaves
        with pytest.raises(Abandoned), pool.context(2, stop):
            pass
    assert pool.size == 2


def test_a_waiting_call_gets_the_context_another_call_frees() -> None:
    pool = Opened()
    stop = threading.Event()
    got: list[Any] = []

    def wait_for_one() -> None:
        with pool.context(1, stop) as llama:
            got.append(llama)

    with pool.context(1, stop) as held:
        waiter = threading.Thread(target=wait_for_one)
        waiter.start()
        waiter.join(0.2)
        assert waiter.is_alive() and not got  # one context, busy: the second call waits
    waiter.join(10)
    assert got == [held] and pool.size == 1


def test_when_a_context_cannot_be_opened_the_pool_keeps_the_ones_it_has() -> None:
    pool = Opened()
    pool.failing = True
    stop = threading.Event()
    with pool.context(3, stop):
        stop.set()
        with pytest.raises(Abandoned), pool.context(3, stop):
            pass
    stop.clear()
    with pool.context(3, stop) as llama:
        assert llama is pool.base and pool.size == 1


def test_a_call_shares_the_thread_budget_with_the_calls_decoding_beside_it() -> None:
    pool = Opened()
    pool.threads = (4, 8)  # (generation, prompt) threads the first context was created with
    stop = threading.Event()
    with pool.context(3, stop) as base, pool.context(3, stop) as second, pool.context(3, stop) as third:
        pass
    assert base is pool.base  # alone: left as created
    assert pool.applied == [(second, (2, 4)), (third, (1, 2))]

    with contextlib.ExitStack() as calls:
        calls.enter_context(pool.context(3, stop))  # the base context
        on_second = contextlib.ExitStack()
        assert on_second.enter_context(pool.context(3, stop)) is second  # two busy: its threads stand
        calls.close()
        with on_second, pool.context(3, stop) as shared:
            assert shared is pool.base  # the base context beside a busy one gets half
    with pool.context(3, stop) as alone:
        assert alone is pool.base  # alone again: the whole budget back
    assert pool.applied[2:] == [(pool.base, (2, 4)), (pool.base, (4, 8))]


class Read:
    """A context that has read ``text`` (one token per character), as llama.cpp's ``Llama`` keeps it."""

    def __init__(self, text: str = ""):
        np = pytest.importorskip("numpy")  # comes with llama.cpp; the pool compares token arrays with it
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.input_ids[: len(text)] = [ord(c) for c in text]
        self.n_tokens = len(text)

    def tokenize(self, text: bytes) -> list[int]:
        return list(text)


def test_a_call_goes_to_the_free_context_that_has_read_most_of_its_prompt() -> None:
    pool = Opened()
    pool.base = Read("Receipt A: total 12.00")
    pool._contexts = [_Context(pool.base), _Context(Read("Receipt B: total 9.50")), _Context(Read(""))]
    stop = threading.Event()

    with pool.context(3, stop, "Receipt B: total 9.50\nDate:") as llama:
        assert llama is pool._contexts[1].llama
    with pool.context(3, stop, "Receipt A: total 12.00\nDate:") as llama:
        assert llama is pool.base
    with pool.context(3, stop, "Something else") as llama, pool.context(3, stop) as other:
        assert llama is pool.base and other is pool._contexts[1].llama  # no shared start: the first free
    with pool.context(1, stop, "Receipt B: total 9.50") as llama:
        assert llama is pool.base  # a limit of one: the first context, nothing compared


@pytest.mark.parametrize("contexts", [0, -1, 1.5, "two", True])
def test_a_bad_number_of_contexts_is_refused(contexts: Any) -> None:
    with pytest.raises(ModelError, match=r"options\.contexts must be a whole number of at least 1"):
        LlamaCppModel(ModelSpec(ref="llamacpp:gemma3-270m", options={"contexts": contexts}))
