"""The web chat in headless Chromium, against ``orchestrator serve`` with the test deployment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.interfaces.conftest import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
KEY = "browser-key-123"
SCREENSHOT = ROOT / "tests" / "artifacts" / "web_chat.png"


@contextmanager
def serve(app: str = "tests.interfaces.app:build", **env_extra: str) -> Iterator[str]:
    """``orchestrator serve --app <app>`` (the test deployment) on a free port (API key required)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_TEST_", "ORCHESTRATOR_"))}
    env.pop("REDIS_URL", None)
    env.update({"PYTHONPATH": str(ROOT), "ORCH_TEST_API_KEYS": KEY, "ORCH_TEST_DELAY": "2", **env_extra})
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--app", app,
         "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def server_url() -> Iterator[str]:
    """The test deployment, with its planner."""
    with serve() as url:
        yield url


@pytest.fixture
def no_planner_url() -> Iterator[str]:
    """The test deployment without a planner: free-form messages cannot run."""
    with serve(ORCH_TEST_NO_PLANNER="1") as url:
        yield url


@contextmanager
def chat_page(url: str) -> Iterator[Page]:
    """The web chat in headless Chromium, with the API key entered."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            page.goto(url)
            page.fill("#key", KEY)
            page.dispatch_event("#key", "change")
            yield page
        finally:
            browser.close()


def is_message(thread: str) -> Callable[[Request], bool]:
    """Matches the web page's POST of a chat message to ``thread``."""
    return lambda r: r.method == "POST" and r.url.endswith(f"/v1/threads/{thread}/messages")


def test_web_chat_shows_plan_steps_and_answer_in_a_thread(server_url: str) -> None:
    from playwright.sync_api import expect

    with chat_page(server_url) as page:
        expect(page.locator("#target option")).to_have_count(3)  # two workflows + free-form task
        expect(page.locator("#thread")).to_have_text(re.compile(r"^web-[0-9a-f]{16}$"))
        thread = page.locator("#thread").inner_text()
        page.select_option("#target", "slow_echo")
        page.fill("#message", "Where is my parcel? Order ORD-1234.")
        with page.expect_request(is_message(thread)) as first_request:
            page.click("#send")
        assert first_request.value.post_data_json == {
            "message": "Where is my parcel? Order ORD-1234.", "workflow": "slow_echo"}

        first = page.locator("tr.step").first
        expect(first.locator("td.state")).to_have_class(re.compile("running"), timeout=10_000)
        assert page.locator(".answer").count() == 0  # steps show while the run is still going
        answer = page.locator(".answer")
        expect(answer).to_have_text("text: WHERE IS MY PARCEL? ORDER ORD-1234.", timeout=15_000)

        rows = page.locator("tr.step")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("wait")
        expect(rows.nth(0)).to_contain_text("sleep")
        expect(rows.nth(0).locator(".badge")).to_have_text("tool")
        expect(rows.nth(0).locator("td.spend")).to_have_text("")
        expect(rows.nth(1)).to_contain_text("shout")
        expect(rows.nth(1)).to_contain_text("function:small")
        expect(rows.nth(1).locator(".badge")).to_have_text("local")
        expect(rows.nth(1).locator("td.ms")).to_have_text(re.compile(r"^\d+ ms$"))
        expect(rows.nth(1).locator("td.spend")).to_have_text("$0.000000")  # a local model costs nothing
        expect(page.locator(".run .head")).to_contain_text("2 steps")

        # the second message goes to the same thread, so the planner gets the first turn as context
        page.select_option("#target", "")
        page.fill("#message", "Summarise the week")
        with page.expect_request(is_message(thread)) as second_request:
            page.press("#message", "Enter")
        assert second_request.value.post_data_json == {"message": "Summarise the week"}
        expect(page.locator(".answer").nth(1)).to_have_text("reply: SUMMARISE THE WEEK (AFTER 2 TURNS)",
                                                            timeout=15_000)
        expect(page.locator(".cost").nth(1)).to_contain_text("saved")
        expect(page.locator(".cost").nth(1)).to_contain_text("function:planner")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # a reload shows the conversation from the server's store
        page.reload()
        expect(page.locator("#thread")).to_have_text(thread)
        expect(page.locator(".user")).to_have_count(2)
        expect(page.locator(".user").nth(0)).to_contain_text("slow_echo")
        expect(page.locator(".answer")).to_have_text(
            ["text: WHERE IS MY PARCEL? ORDER ORD-1234.", "reply: SUMMARISE THE WEEK (AFTER 2 TURNS)"])

        # a new conversation starts without context
        page.click("#new")
        expect(page.locator(".turn")).to_have_count(0)
        expect(page.locator("#thread")).not_to_have_text(thread)
        fresh = page.locator("#thread").inner_text()
        expect(page.locator("#target option")).to_have_count(3)
        page.select_option("#target", "")
        page.fill("#message", "Fresh start")
        with page.expect_request(is_message(fresh)):
            page.click("#send")
        expect(page.locator(".answer")).to_have_text("reply: FRESH START", timeout=15_000)


def test_a_typed_prefix_wins_over_the_picker_and_nothing_is_picked_by_default(server_url: str) -> None:
    from playwright.sync_api import expect

    with chat_page(server_url) as page:
        expect(page.locator("#target option")).to_have_count(3)
        expect(page.locator("#target")).to_have_value("")  # no workflow chosen for the user
        thread = page.locator("#thread").inner_text()
        page.select_option("#target", "slow_echo")
        page.fill("#message", "echo: typed prefix")
        with page.expect_request(is_message(thread)) as request:
            page.click("#send")
        assert request.value.post_data_json == {"message": "echo: typed prefix"}  # not the picker's slow_echo
        expect(page.locator(".user .target")).to_have_text("echo")
        expect(page.locator(".answer")).to_have_text("text: TYPED PREFIX", timeout=15_000)
        expect(page.locator("tr.step")).to_have_count(1)  # echo's one step, not slow_echo's two


def test_without_a_planner_an_unprefixed_message_asks_for_a_workflow(no_planner_url: str) -> None:
    from playwright.sync_api import expect

    with chat_page(no_planner_url) as page:
        expect(page.locator("#target option")).to_have_count(3)  # "choose a workflow…" + two workflows
        expect(page.locator("#target")).to_have_value("")
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
        page.fill("#message", "what is the weather today?")
        page.click("#send")
        ask = page.locator(".answer.ask")
        expect(ask).to_contain_text("Which workflow should run this?")
        expect(ask).to_contain_text('"echo: what is the weather today?"')
        assert sent == []  # nothing ran
        assert page.locator("tr.step").count() == 0


def test_the_thumbs_up_under_a_model_step_sends_feedback(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with serve(ORCH_TEST_LEARNING_DIR=str(tmp_path)) as url, chat_page(url) as page:
        page.select_option("#target", "echo")
        page.fill("#message", "hello")
        page.click("#send")
        buttons = page.locator("tr.step td.feedback button")
        expect(buttons).to_have_count(2, timeout=15_000)  # thumbs up and correct, under the model step
        with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/feedback")) as sent:
            buttons.first.click()
        body = sent.value.post_data_json
        assert body["step_id"] == "shout" and body["output"]["text"] == "HELLO"
        expect(page.locator("tr.step td.feedback")).to_have_text("thanks")
