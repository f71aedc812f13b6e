"""The chat page of ``agentkit serve`` in a real headless Chromium (Debian's, via its
chromedriver and selenium; nothing is downloaded). Under ``CI=true`` it never skips."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import weather_tool

from agentkit import Agent, tool
from agentkit.serve import BackgroundServer
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import text, tool_calls

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "artifacts"
"""Screenshots land here (``build/`` is ignored by git)."""

pytestmark = pytest.mark.slow  # a real headless Chromium

if not os.environ.get("CI"):  # under CI a missing selenium fails the import instead
    pytest.importorskip("selenium")


def _have_browser() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A fresh headless Chromium (its own profile directory), closed after the test."""
    if not _have_browser():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (.ci/run installs them)")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install them)")
    from selenium import webdriver as wd
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="agentkit-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=900,640",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # The system chromedriver, named outright: Selenium Manager never runs (no download).
    driver = wd.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30, poll_frequency=0.05).until(condition, message=what)


def _ask(driver: Any, question: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "prompt")
    box.send_keys(question)
    driver.find_element(By.ID, "send").click()


def _idle(driver: Any) -> bool:
    return bool(driver.execute_script("return document.body.dataset.state === 'idle'"))


get_weather = weather_tool("{city} tomorrow: rain, high 12 C.")


@tool(needs_approval=True)
def book_hotel(city: str, nights: int) -> str:
    """Book a hotel (needs the user's approval).

    Args:
        city: The city.
        nights: How many nights.
    """
    return f"Booked {nights} nights in {city}."


def test_the_page_streams_tool_calls_and_asks_for_approval(browser: Any) -> None:
    """In Chromium: a question streams its answer, shows each tool call with its arguments
    and result, asks Approve / Deny for a call that needs it, and finishes with usage."""
    from selenium.webdriver.common.by import By

    answer = "Lyon will be rainy tomorrow (12 C). I booked 2 nights for you; pack an umbrella."
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"}), input_tokens=40, output_tokens=8),
            tool_calls(("book_hotel", {"city": "Lyon", "nights": 2})),
            text(answer, input_tokens=90, output_tokens=20),
        ]
    )
    agent: Agent[Any, str] = Agent(model, tools=[get_weather, book_hotel], name="travel-desk")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        assert browser.find_element(By.ID, "agent-name").text == "travel-desk"
        _ask(browser, "Weather in Lyon, and book me 2 nights?")
        approve = _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".approval .approve"),
            "an Approve button",
        )[0]
        weather = browser.find_element(By.CSS_SELECTOR, ".tool.done")
        assert 'get_weather({"city": "Lyon"})' in weather.text
        assert "Lyon tomorrow: rain, high 12 C." in weather.text
        assert (
            'book_hotel({"city":"Lyon","nights":2})'
            in browser.find_element(By.CSS_SELECTOR, ".approval").text
        )
        approve.click()
        final = _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the final answer",
        )[0]
        _wait(browser, _idle, "the run to finish")
        assert final.text == answer
        tools = browser.find_elements(By.CSS_SELECTOR, ".tool.done")
        assert len(tools) == 2 and len({t.get_attribute("data-tool-call-id") for t in tools}) == 2
        assert "Booked 2 nights in Lyon." in tools[-1].text
        usage = browser.find_elements(By.CSS_SELECTOR, ".usage")
        # Per turn: the paused turn (two requests, one tool run), then the approved one.
        assert "2 requests · 50 in / 13 out tokens · 1 tool call" in usage[0].text
        assert "1 request · 90 in / 20 out tokens · 1 tool call" in usage[1].text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-chat.png"))
        # The conversation is kept per tab: a reload draws it again.
        browser.refresh()
        _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the conversation after a reload",
        )
        assert browser.find_elements(By.CSS_SELECTOR, ".msg.user")[0].text.startswith("Weather")
        assert len(browser.find_elements(By.CSS_SELECTOR, ".tool.done")) == 2
    assert model.remaining == 0


def test_text_streams_into_the_page_before_the_run_ends(browser: Any) -> None:
    """The first half of an answer is on the page while the model still holds the rest."""
    from selenium.webdriver.common.by import By
    from test_serve_api import GatedModel

    model = GatedModel()
    agent: Agent[Any, str] = Agent(model, name="gated")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "go")
        bubble = _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.streaming"),
            "a streaming answer",
        )[0]
        assert bubble.text.strip() == "first half,"
        assert not _idle(browser)
        model.seen_first.set()
        _wait(browser, _idle, "the run to finish")
        assert browser.find_element(By.CSS_SELECTOR, ".msg.assistant.final").text == (
            "first half, second half"
        )


def test_model_output_and_tool_results_are_text_never_html(browser: Any) -> None:
    """An answer and a tool result holding ``<script>`` and ``<img onerror>`` show as
    text; no script of theirs runs and no element of theirs appears."""
    from selenium.webdriver.common.by import By

    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'

    @tool
    def fetch_page(url: str) -> str:
        """Fetch a page (returns hostile HTML).

        Args:
            url: The address.
        """
        return hostile

    model = ScriptedModel([tool_calls(("fetch_page", {"url": hostile})), text("Done: " + hostile)])
    agent: Agent[Any, str] = Agent(model, tools=[fetch_page], name="xss")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, hostile)
        final = _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the final answer",
        )[0]
        _wait(browser, _idle, "the run to finish")
        assert final.text == "Done: " + hostile
        assert hostile in browser.find_element(By.CSS_SELECTOR, ".tool .result").text
        assert browser.find_elements(By.CSS_SELECTOR, "#log img, #log script") == []
        assert browser.execute_script("return window.__pwned === undefined") is True
