"""join_texts: joining step outputs into one text."""

from __future__ import annotations

from orchestrator.tools import JoinTexts
from orchestrator.tools.combine import JoinTextsInput, join_texts


def test_plain_join_drops_blank_texts() -> None:
    out = JoinTexts().run(JoinTextsInput(texts=[" first ", "", "second"]))
    assert (out.text, out.count) == ("first\n\nsecond", 2)


def test_bullets_numbers_titles_and_duplicates() -> None:
    assert join_texts(["a", "b"], style="bullets", separator="\n") == "- a\n- b"
    assert join_texts(["a", "b"], style="numbered", separator="\n") == "1. a\n2. b"
    assert join_texts(["a", "b"], titles=["One", "Two"]) == "One:\na\n\nTwo:\nb"
    out = JoinTexts().run(JoinTextsInput(texts=["a", "a ", "b"], deduplicate=True, separator=" | "))
    assert (out.text, out.count) == ("a | b", 2)
