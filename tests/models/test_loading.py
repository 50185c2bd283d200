"""settle_heap: after a model load, what is alive moves to the collector's permanent generation."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from orchestrator.models.loading import GC_FREEZE_ENV, settle_heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the session collects as usual


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_heap_freezes_what_is_alive_and_collects_garbage_first(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(GC_FREEZE_ENV, raising=False)
    kept = [object() for _ in range(10)]
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle nobody refers to once dropped: garbage at the freeze
    gone = weakref.ref(a)
    del a, b
    assert settle_heap() is True
    assert gone() is None, "the unreachable cycle was collected before the freeze, not frozen"
    assert gc.get_freeze_count() >= len(kept)
    after = gc.get_freeze_count()
    fresh = [_Node() for _ in range(5)]
    assert gc.get_freeze_count() == after, "objects made after the freeze are collected as usual"
    assert fresh


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_settle_heap_can_be_turned_off(unfrozen: None, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(GC_FREEZE_ENV, value)
    assert settle_heap() is False
    assert gc.get_freeze_count() == 0
