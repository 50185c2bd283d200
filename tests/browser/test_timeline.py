"""The run timeline in the web chat (headless Chromium): bars per step, with model, where and cost."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_web_chat import ROOT, chat_page, serve

pytestmark = pytest.mark.browser

SCREENSHOT = ROOT / "tests" / "artifacts" / "run_timeline.png"


def test_the_web_chat_draws_each_runs_timeline() -> None:
    from playwright.sync_api import expect

    with serve(ORCH_TEST_DELAY="0.4") as url, chat_page(url) as page:
        page.select_option("#target", "slow_echo")
        page.fill("#message", "Where is my parcel?")
        page.click("#send")
        timeline = page.locator(".run .timeline")
        expect(timeline).to_have_count(1, timeout=15_000)
        rows = timeline.locator(".row")
        expect(rows).to_have_count(3)  # the planning, then the two steps
        expect(rows.nth(1).locator(".label")).to_have_text("wait")
        expect(rows.nth(1).locator(".meta")).to_contain_text("tool")
        expect(rows.nth(2).locator(".label")).to_have_text("shout")
        expect(rows.nth(2).locator(".meta")).to_contain_text(re.compile(r"function:small · local · \d+\+\d+ tok"))
        expect(rows.nth(2).locator(".seg.running.local")).to_have_count(1)
        expect(rows.nth(2).locator(".seg.waiting")).to_have_count(1)  # it waited for "wait" to finish
        wait_bar = rows.nth(1).locator(".seg.running").bounding_box()
        shout_wait = rows.nth(2).locator(".seg.waiting").bounding_box()
        assert wait_bar is not None and shout_wait is not None
        assert abs((wait_bar["x"] + wait_bar["width"]) - (shout_wait["x"] + shout_wait["width"])) < 3
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator(".run").first.screenshot(path=str(SCREENSHOT))
