"""The web chat shows a generative step's text as its model writes it (``step.delta`` events):
pieces appended, a new draft replacing the text, the final answer replacing it at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.streaming_app import FIRST_DRAFT, SECOND_DRAFT
from tests.browser.test_web_chat import chat_page, serve

pytestmark = pytest.mark.browser


def test_streamed_text_shows_before_the_run_ends_and_a_new_draft_replaces_it(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gates = tmp_path / "gates"
    gates.mkdir()
    with serve("tests.browser.streaming_app:build", ORCH_TEST_GATES=str(gates)) as url, chat_page(url) as page:
        page.fill("#message", "digest: The team met on Monday and agreed to ship the release on Friday.")
        page.click("#send")
        live = page.locator(".answer.streaming")
        final = page.locator(".answer:not(.streaming)")
        # the writer holds after draft 1's first piece until the gate opens: the run cannot have ended
        expect(live).to_have_text(FIRST_DRAFT[0].strip(), timeout=15_000)
        assert final.count() == 0
        expect(page.locator("tr.step td.state")).to_have_class("state running")
        (gates / "draft-1").touch()
        # draft 1 is too long, the summarizer repairs it: draft 2 starts the text afresh
        expect(live).to_have_text(SECOND_DRAFT[0].strip(), timeout=15_000)
        assert final.count() == 0 and "word" not in live.inner_text()
        (gates / "draft-2").touch()
        expect(final).to_have_text("summary: " + "".join(SECOND_DRAFT), timeout=15_000)
        expect(live).to_have_count(0)  # the final answer took the streamed text's place
        expect(page.locator(".answer")).to_have_count(1)
