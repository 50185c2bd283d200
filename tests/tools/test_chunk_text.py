"""chunk_text: size limits, boundary preference, overlap, offsets."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.tools.chunking import ChunkText, ChunkTextInput, split_text

DOCUMENT = Path(__file__).parents[2] / "examples" / "documents" / "support_operations_report.txt"


def chunk(text: str, max_chars: int = 2000, overlap: int = 0) -> list[str]:
    return ChunkText().run(ChunkTextInput(text=text, max_chars=max_chars, overlap=overlap)).chunks


def test_short_text_is_one_chunk() -> None:
    out = ChunkText().run(ChunkTextInput(text="  Hello there.  "))
    assert out.chunks == ["Hello there."]
    assert out.count == 1
    assert out.offsets == [2]


@pytest.mark.parametrize("text", ["", "   \n\n  \t"])
def test_empty_or_blank_text_has_no_chunks(text: str) -> None:
    out = ChunkText().run(ChunkTextInput(text=text))
    assert (out.chunks, out.count, out.offsets) == ([], 0, [])


def test_prefers_paragraph_breaks() -> None:
    first = "First paragraph. It has two sentences."
    second = "Second paragraph. Also two sentences."
    assert chunk(f"{first}\n\n{second}", max_chars=60) == [first, second]


def test_falls_back_to_sentences_when_a_paragraph_is_too_long() -> None:
    text = "One short sentence here. Another short sentence here. A third short sentence."
    chunks = chunk(text, max_chars=55)
    assert chunks == ["One short sentence here. Another short sentence here.", "A third short sentence."]


def test_falls_back_to_words_without_sentence_ends() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    chunks = chunk(text, max_chars=20)
    assert all(len(c) <= 20 for c in chunks)
    assert " ".join(chunks) == text  # no word is split


def test_cuts_an_unbroken_run_hard() -> None:
    assert chunk("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_a_tiny_paragraph_does_not_make_a_tiny_chunk() -> None:
    text = "Hi.\n\n" + "This sentence is long enough to matter. " * 3
    chunks = chunk(text.strip(), max_chars=80)
    assert len(chunks[0]) > 40  # the short paragraph is joined with the next sentence


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    words = " ".join(f"w{i:02d}" for i in range(40))
    chunks = chunk(words, max_chars=30, overlap=8)
    assert all(len(c) <= 30 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert after.split()[0] in before.split()


def test_offsets_point_into_the_text() -> None:
    text = DOCUMENT.read_text()
    out = ChunkText().run(ChunkTextInput(text=text, max_chars=1000, overlap=100))
    assert out.count == len(out.chunks) == len(out.offsets) > 1
    for offset, piece in zip(out.offsets, out.chunks, strict=True):
        assert text[offset:offset + len(piece)] == piece
        assert len(piece) <= 1000


def test_example_document_chunks_at_the_default_size() -> None:
    out = ChunkText().run(ChunkTextInput(text=DOCUMENT.read_text()))
    assert 4 <= out.count <= 6
    assert all(len(c) <= 2000 for c in out.chunks)
    assert all(c.endswith(".") for c in out.chunks)  # every chunk ends at a sentence or paragraph


@pytest.mark.parametrize(("max_chars", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_rejects_bad_limits(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValidationError):
        ChunkTextInput(text="abc", max_chars=max_chars, overlap=overlap)
    with pytest.raises(ValueError):
        split_text("abc", max_chars, overlap)


async def test_runs_through_the_tool_call() -> None:
    out = await ChunkText()(ChunkTextInput(text="a b c", max_chars=3))
    assert out.chunks == ["a b", "c"]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab .!?\n")), max_size=300),
    max_chars=st.integers(min_value=1, max_value=40),
    data=st.data(),
)
def test_chunks_cover_the_text_within_the_limit(text: str, max_chars: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(min_value=0, max_value=max_chars - 1))
    pieces = split_text(text, max_chars, overlap)
    covered = 0
    for offset, piece in pieces:
        assert 0 < len(piece) <= max_chars
        assert text[offset:offset + len(piece)] == piece
        if offset > covered:
            assert text[covered:offset].strip() == ""  # nothing but whitespace is skipped
        covered = max(covered, offset + len(piece))
    assert text[covered:].strip() == ""
    assert [o for o, _ in pieces] == sorted({o for o, _ in pieces})  # always moves forward


def test_a_heading_stays_with_its_section() -> None:
    text = "Intro paragraph one is here.\n\n2. Results\n\nThe results paragraph follows here."
    assert chunk(text, max_chars=50) == ["Intro paragraph one is here.",
                                         "2. Results\n\nThe results paragraph follows here."]
