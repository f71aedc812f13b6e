"""The chat page of ``agentkit serve`` in a real headless Chromium (Debian's, via its
chromedriver and selenium; nothing is downloaded). Under ``CI=true`` it never skips."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from pydantic import BaseModel
from support import model_on, weather_tool
from test_serve_api import GatedModel

from agentkit import Agent, tool
from agentkit.models.base import ModelRequest, ModelStreamEvent
from agentkit.serve import BackgroundServer
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import output_call, text, tool_calls

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
    with _chromium() as driver:
        yield driver


@contextlib.contextmanager
def _chromium(*extra_flags: str) -> Iterator[Any]:
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
        *extra_flags,
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


_DRAWN = """return [...document.getElementById('log').children].map(e => [
  e.className, e.textContent, e.tagName === 'DETAILS' ? e.open : null,
  [...e.querySelectorAll('details')].map(d => d.open),
  [...e.querySelectorAll('button')].map(b => b.disabled)])"""
"""The log as drawn: each element's classes, text, folds (open or not) and buttons (disabled
or not)."""


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
        # Per turn, in the CLI's words: the paused turn (two requests), then the approved one.
        assert usage[0].text.startswith("2 requests · 50 in + 13 out tokens · cost unknown")
        assert usage[1].text.startswith("1 request · 90 in + 20 out tokens · cost unknown")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-chat.png"))
        live = browser.execute_script(_DRAWN)
        assert [c[0] for c in live] == [
            "msg user", "tool done", "tool done", "approval", "usage",  # paused for approval
            "msg assistant final", "usage",  # approved: the call ran, then the answer
        ]  # fmt: skip
        # The conversation is kept per tab: a reload draws it as it was, decisions included.
        browser.refresh()
        _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the conversation after a reload",
        )
        assert browser.execute_script(_DRAWN) == live
    assert model.remaining == 0


def test_a_call_waiting_for_approval_is_decided_after_a_reload(browser: Any) -> None:
    """In Chromium: a turn paused for approval looks the same after a reload, its card in
    place and still live; approving it there resumes the run, and a further reload shows
    the decision."""
    from selenium.webdriver.common.by import By

    model = ScriptedModel(
        [tool_calls(("book_hotel", {"city": "Lyon", "nights": 2})), text("Booked.")]
    )
    agent: Agent[Any, str] = Agent(model, tools=[book_hotel], name="travel-desk")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "Book me 2 nights in Lyon")
        _wait(browser, _idle, "the turn to pause")
        paused = browser.execute_script(_DRAWN)
        assert [c[0] for c in paused] == ["msg user", "tool", "approval", "usage"]
        browser.refresh()
        approve = _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".approval .approve"),
            "the Approve button after a reload",
        )[0]
        assert browser.execute_script(_DRAWN) == paused
        approve.click()
        _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the answer",
        )
        _wait(browser, _idle, "the run to finish")
        done = browser.execute_script(_DRAWN)
        assert [c[0] for c in done] == [
            "msg user", "tool done", "approval", "usage", "msg assistant final", "usage",
        ]  # fmt: skip
        assert "approved" in done[2][1]
        browser.refresh()
        _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
            "the conversation after a second reload",
        )
        assert browser.execute_script(_DRAWN) == done
    assert model.remaining == 0


def test_thinking_is_folded_apart_from_the_answer(browser: Any) -> None:
    """In Chromium: the model's thinking shows in closed <details> blocks before the tool
    call and the answer (never in the answer's bubble), also after a reload, and opens
    on a click; text in it is text, not HTML."""
    from selenium.webdriver.common.by import By

    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"}), thinking="Check <b>Lyon</b> first."),
            text("Rain in Lyon.", thinking="The tool says rain.", reasoning_tokens=3),
        ]
    )
    agent: Agent[Any, str] = Agent(model, tools=[get_weather], name="thinker")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "Weather in Lyon?")
        _wait(browser, _idle, "the run to finish")
        for reloaded in (False, True):
            blocks = browser.find_elements(By.CSS_SELECTOR, "details.thinking")
            assert len(blocks) == 2
            assert all(b.get_attribute("open") is None for b in blocks)  # folded
            bodies = [b.find_element(By.CSS_SELECTOR, ".body") for b in blocks]
            assert [b.get_attribute("textContent") for b in bodies] == [
                "Check <b>Lyon</b> first.",
                "The tool says rain.",
            ]
            assert not browser.find_elements(By.CSS_SELECTOR, "details.thinking b")
            order = browser.execute_script(
                "return [...document.getElementById('log').children].map(e => e.className)"
            )
            drawn = ["msg", "thinking", "tool", "thinking", "msg", "usage"]
            assert [c.split()[0] for c in order] == drawn
            final = browser.find_element(By.CSS_SELECTOR, ".msg.assistant.final")
            assert final.text == "Rain in Lyon."
            usage = browser.find_element(By.CSS_SELECTOR, ".usage").text
            assert "20 in + 10 out tokens (3 of them reasoning) · cost unknown" in usage
            blocks[1].find_element(By.TAG_NAME, "summary").click()
            assert blocks[1].get_attribute("open") is not None
            assert bodies[1].text == "The tool says rain."
            if not reloaded:
                browser.refresh()
                _wait(
                    browser,
                    lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.final"),
                    "the conversation after a reload",
                )


def test_text_streams_into_the_page_before_the_run_ends(browser: Any) -> None:
    """The first half of an answer is on the page while the model still holds the rest."""
    from selenium.webdriver.common.by import By

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


class HeldModel(GatedModel):
    """Holds its first event until the test lets it start (the embedded model takes seconds
    to its first event), then streams like ``GatedModel``."""

    def __init__(self) -> None:
        super().__init__()
        self.may_start = threading.Event()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Nothing until ``may_start``, then the gated halves."""
        await anyio.to_thread.run_sync(self.may_start.wait, abandon_on_cancel=True)
        async for event in super().stream(request):
            yield event


def test_the_page_shows_it_waits_from_the_moment_it_sends(browser: Any) -> None:
    """In Chromium: the waiting indicator is on the page in the same moment the prompt is
    sent, stays while the model says nothing, and is gone once its text arrives."""
    from selenium.webdriver.common.by import By

    model = HeldModel()
    agent: Agent[Any, str] = Agent(model, name="held")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        browser.find_element(By.ID, "prompt").send_keys("go")
        shown = browser.execute_script(
            "document.getElementById('form').requestSubmit();"
            "const w = document.querySelector('#log .waiting');"
            "return w && w.textContent"
        )
        assert shown == "waiting for the model"  # before the request has even left
        waiting = browser.find_element(By.CSS_SELECTOR, "#log .waiting")
        assert waiting.is_displayed()
        spinner = waiting.find_element(By.CSS_SELECTOR, ".spinner")
        assert spinner.value_of_css_property("animation-name") == "spin"
        assert not _idle(browser)
        model.may_start.set()
        _wait(
            browser,
            lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant.streaming"),
            "the first text",
        )
        assert browser.find_elements(By.CSS_SELECTOR, "#log .waiting") == []
        assert not _idle(browser)  # the model still holds the second half
        model.seen_first.set()
        _wait(browser, _idle, "the run to finish")
        assert browser.find_elements(By.CSS_SELECTOR, "#log .waiting") == []


def test_the_page_says_which_tool_runs_then_waits_for_the_model(browser: Any) -> None:
    """In Chromium: while a tool runs the indicator names it; once it returned, the page
    says it waits for the model again, until the answer arrives."""
    release = threading.Event()

    @tool
    def look_up(city: str) -> str:
        """Look a city up (returns when the test lets it).

        Args:
            city: The city.
        """
        release.wait(30)
        return f"{city}: found"

    model = HeldModel()  # after the tool, the model says nothing until told
    script = ScriptedModel([tool_calls(("look_up", {"city": "Lyon"}))])

    class ToolThenHeld(HeldModel):
        """Calls ``look_up`` first, then holds its answer like ``HeldModel``."""

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
            """The scripted tool call first; afterwards, the held answer."""
            source = script if script.remaining else model
            async for event in source.stream(request):
                yield event

    agent: Agent[Any, str] = Agent(ToolThenHeld(), tools=[look_up], name="desk")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "Find Lyon")

        def label(d: Any) -> str:
            script = "const w = document.querySelector('#log .waiting'); return w && w.textContent"
            return str(d.execute_script(script) or "")

        _wait(browser, lambda d: label(d) == "running look_up", "the tool named as running")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-waiting.png"))
        release.set()
        _wait(browser, lambda d: label(d) == "waiting for the model", "the model's turn again")
        model.may_start.set()
        model.seen_first.set()
        _wait(browser, _idle, "the run to finish")
        assert label(browser) == ""


class TripAdvice(BaseModel):
    """Advice for a trip."""

    city: str
    advice: str
    days: list[str]


def test_a_failed_turn_looks_the_same_after_a_reload(browser: Any) -> None:
    """In Chromium: a structured answer is drawn as fields; a turn that then fails (the
    model's JSON cut off, three times) shows a plain error with the detail folded and is not
    stored; after a reload the page shows exactly what it showed live, the failed turn at
    its place between the others, and never the model's cut-off JSON."""
    from selenium.webdriver.common.by import By

    truncated = '{ "advice": "Pack a light jacket, just in case.'
    lyon = {"city": "Lyon", "advice": "Take an umbrella.", "days": ["Mon", "Tue"]}
    oslo = {"city": "Oslo", "advice": "Pack a light jacket, just in case.", "days": ["Wed"]}
    model = ScriptedModel(
        [
            output_call(truncated),  # refused, then fixed: only the fixed answer shows
            output_call(lyon),
            tool_calls(("get_weather", {"city": "Tokyo"})),
            *[output_call(truncated)] * 3,
            output_call(oslo),
        ]
    )
    agent: Agent[Any, TripAdvice] = Agent(
        model, tools=[get_weather], output_type=TripAdvice, retries=2, name="travel-desk"
    )
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        for question in ("Lyon tomorrow?", "And Tokyo?", "Oslo then?"):
            _ask(browser, question)
            _wait(browser, _idle, f"the turn {question!r} to end")
        live = browser.execute_script(_DRAWN)
        boxes = browser.find_elements(By.CSS_SELECTOR, ".output")
        assert [
            b.find_element(By.CSS_SELECTOR, ".title").get_attribute("textContent") for b in boxes
        ] == ["TripAdvice · validated"] * 2
        fields = [
            e.get_attribute("textContent")
            for e in boxes[0].find_elements(By.CSS_SELECTOR, "dt, dd")
        ]
        assert fields == ["city", "Lyon", "advice", "Take an umbrella.", "days", '["Mon","Tue"]']
        error = browser.find_element(By.CSS_SELECTOR, ".error")
        what = error.find_element(By.CSS_SELECTOR, ".what").get_attribute("textContent")
        assert what and "RetriesExhaustedError" not in what and truncated not in what
        assert "Nothing of this turn was kept" in error.get_attribute("textContent")
        fold = error.find_element(By.CSS_SELECTOR, "details")
        assert fold.get_attribute("open") is None
        assert "RetriesExhaustedError" in fold.get_attribute("textContent")
        failed_prompt = browser.find_element(By.CSS_SELECTOR, ".msg.user.failed")
        assert failed_prompt.get_attribute("textContent") == "And Tokyo?"
        assert [c[0].split()[0] for c in live] == [
            "msg", "output", "usage",  # Lyon
            "msg", "tool", "error",  # Tokyo: the tool ran, then the answer failed
            "msg", "output", "usage",  # Oslo
        ]  # fmt: skip
        conversation = browser.execute_script(
            "return sessionStorage.getItem('agentkit-conversation')"
        )
        stored = httpx2.get(f"{served.url}/api/conversations/{conversation}").json()["items"]
        assert "And Tokyo?" not in [i.get("text") for i in stored]
        browser.refresh()
        _wait(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, ".output")) == 2,
            "the conversation after a reload",
        )
        assert browser.execute_script(_DRAWN) == live
        assert truncated not in browser.find_element(By.ID, "log").get_attribute("textContent")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-failed-turn.png"))
    assert model.remaining == 0


def test_an_answer_an_output_validator_changed_looks_the_same_after_a_reload(
    browser: Any,
) -> None:
    """In Chromium: a structured answer that the agent's output validator completed (the city
    filled in from the lookup, the advice cut to one sentence, as the demo's travel desk
    does) is drawn after a reload as it was live, never as the model's raw arguments."""
    from selenium.webdriver.common.by import By

    cut_off = "The weather is good for the 1"
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"})),
            output_call({"city": "", "advice": f"Take an umbrella. {cut_off}", "days": []}),
        ]
    )
    agent: Agent[Any, TripAdvice] = Agent(
        model, tools=[get_weather], output_type=TripAdvice, name="travel-desk"
    )

    @agent.output_validator
    def from_the_lookup(output: TripAdvice) -> TripAdvice:
        """The looked-up city, and the advice's first sentence."""
        advice = output.advice.split(". ")[0].rstrip(".") + "."
        return output.model_copy(update={"city": "Lyon", "advice": advice, "days": ["Mon"]})

    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "Lyon tomorrow?")
        _wait(browser, _idle, "the turn to end")
        live = browser.execute_script(_DRAWN)
        box = browser.find_element(By.CSS_SELECTOR, ".output")
        fields = [e.get_attribute("textContent") for e in box.find_elements(By.CSS_SELECTOR, "dd")]
        assert fields == ["Lyon", "Take an umbrella.", '["Mon"]']
        browser.refresh()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".output"), "the reload")
        assert browser.execute_script(_DRAWN) == live
    assert model.remaining == 0


def test_a_field_without_a_value_draws_no_row(browser: Any) -> None:
    """In Chromium: an answer whose city is empty text (an off-script question to the travel
    desk) draws rows only for the fields that have a value, live and after a reload."""
    from selenium.webdriver.common.by import By

    off_script = {"city": "", "advice": "I give tomorrow's weather.", "days": []}
    agent: Agent[Any, TripAdvice] = Agent(
        ScriptedModel([output_call(off_script)]), output_type=TripAdvice, name="travel-desk"
    )
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "What can you do?")
        _wait(browser, _idle, "the turn to end")

        def rows() -> list[str]:
            box = browser.find_element(By.CSS_SELECTOR, ".output")
            return [
                e.get_attribute("textContent") for e in box.find_elements(By.CSS_SELECTOR, "dt, dd")
            ]

        assert rows() == ["advice", "I give tomorrow's weather.", "days", "[]"]
        browser.refresh()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".output"), "the reload")
        assert rows() == ["advice", "I give tomorrow's weather.", "days", "[]"]


def test_a_missing_key_is_said_in_the_users_terms(
    browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Chromium, on a server without its model's API key: the error says who can fix it
    and how, and the developer detail (which key) opens from a "details" fold."""
    from selenium.webdriver.common.by import By

    for name in ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    agent: Agent[Any, str] = Agent("mistral-small-2506", name="travel-desk")
    with BackgroundServer(agent) as served:
        browser.get(served.url + "/")
        _ask(browser, "Weather in Lyon?")
        error = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".error"), "the error")[0]
        _wait(browser, _idle, "the turn to end")
        assert error.find_element(By.CSS_SELECTOR, ".what").text.startswith(
            "The server has no API key for its model (mistral-small-2506)"
        )
        fold = error.find_element(By.CSS_SELECTOR, "details")
        assert "MISTRAL_API_KEY" not in error.text  # folded
        fold.find_element(By.TAG_NAME, "summary").click()
        assert "MissingAPIKeyError: No API key for mistral-small-2506" in fold.text
        assert "MISTRAL_API_KEY" in fold.text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "serve-no-key.png"))


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


# -- a browser as the attacker ---------------------------------------------------------------

ATTACK_PAGE = """<!doctype html><title>cute cats</title><body><script>
const target = "{target}";
const ask = JSON.stringify({{conversation: "c0nversation-1", prompt: "Book 9 nights in Lyon"}});
const api = JSON.stringify({{model: "x", messages: [{{role: "user", content: "Book it"}}]}});
Promise.allSettled([
  // No preflight for these two: text/plain is a "simple" content type.
  fetch(target + "/api/chat", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: ask}}),
  fetch(target + "/v1/chat/completions", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: api}}),
  // JSON needs a preflight, which the server does not grant to this origin.
  fetch(target + "/api/chat", {{method: "POST",
        headers: {{"Content-Type": "application/json"}}, body: ask}}),
]).then(results => {{
  document.body.dataset.done = results.map(r => r.status).join(",");
}});
</script></body>"""


@contextlib.contextmanager
def _attacker_site(page: str) -> Iterator[str]:
    """A web site on another port of 127.0.0.1 serving ``page`` at ``/``."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()
        thread.join()


def test_a_page_on_another_port_cannot_make_the_agent_run(browser: Any) -> None:
    """In Chromium: a page on another loopback port posts to the page's endpoint and the
    OpenAI API (``text/plain`` without a preflight, and JSON with one); the agent never
    runs, so no tool is called."""
    from agentkit.testing.server import LocalModelServer, reply_tool_calls

    with LocalModelServer(style="mistral") as upstream:
        upstream.add(*[reply_tool_calls(("book_hotel", {"city": "Lyon", "nights": 9}))] * 3)
        agent: Agent[Any, str] = Agent(
            model_on(upstream), tools=[get_weather, book_hotel], name="travel-desk"
        )
        with (
            BackgroundServer(agent) as served,
            _attacker_site(ATTACK_PAGE.format(target=served.url)) as site,
        ):
            browser.get(site)
            done = _wait(
                browser,
                lambda d: d.execute_script("return document.body.dataset.done"),
                "the attack page's requests to settle",
            )
        assert done == "fulfilled,fulfilled,rejected"  # sent (opaque), sent, blocked by CORS
        assert upstream.requests == []


def test_a_rebound_name_cannot_reach_the_agent(model_server_for_browser: Any) -> None:
    """In Chromium, with ``evil.example`` resolving to 127.0.0.1 (what DNS rebinding does):
    the page the browser loads from that name gets 403, and its same-origin POST runs
    nothing."""
    upstream = model_server_for_browser
    agent: Agent[Any, str] = Agent(model_on(upstream), tools=[get_weather], name="desk")
    with BackgroundServer(agent) as served:
        rule = "--host-resolver-rules=MAP evil.example 127.0.0.1"
        with _chromium(rule) as driver:
            driver.get(f"http://evil.example:{served.port}/")
            assert "host_not_allowed" in driver.page_source
            status = driver.execute_script(
                "return fetch('/api/chat', {method: 'POST', headers: {'Content-Type': "
                "'application/json'}, body: JSON.stringify({conversation: 'c0nversation-1', "
                "prompt: 'hi'})}).then(r => r.status)"
            )
    assert status == 403
    assert upstream.requests == []


@pytest.fixture
def model_server_for_browser() -> Iterator[Any]:
    """A ``LocalModelServer`` with one answer ready, which a blocked request never takes."""
    from agentkit.testing.server import LocalModelServer, reply_text

    with LocalModelServer(style="mistral") as server:
        server.add(reply_text("You should never see this."))
        yield server
