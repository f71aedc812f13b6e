"""Guardrails as the user sees them: OpenTelemetry spans, the CLI's lines, the web page's events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import doc_blocks
import httpx2
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from support import TextSink, model_on, weather_tool

from agentkit import (
    Agent,
    GuardrailEvent,
    GuardrailTripped,
    InputGuardrail,
    ToolGuardrail,
)
from agentkit.cli._render import PlainRenderer
from agentkit.guardrails import PIIRedactor
from agentkit.serve import BackgroundServer
from agentkit.testing import LocalModelServer, ScriptedModel, text, tool_calls
from agentkit.testing.server import reply_text, reply_tool_calls
from agentkit.tracing import Tracing

README = Path(__file__).resolve().parent.parent / "README.md"


def no_passwords(ctx: Any, prompt: str) -> str | None:
    """Trips on prompts that ask for a password."""
    return "asks for a password" if "password" in prompt else None


def contact_agent(model: Any, *hooks: Any) -> Agent[None, str]:
    """An agent whose tool answers with an email address."""
    contact = weather_tool("Ask jane@example.com.")
    return Agent(model, tools=[contact], hooks=list(hooks))


@pytest.mark.anyio
@pytest.mark.parametrize("capture", [False, True])
async def test_each_check_is_a_span_inside_the_run(capture: bool) -> None:
    """Each guardrail check is an ``apply_guardrail`` span in the run's span; a trip has an
    error status; the reason is content, recorded only when content is captured."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider, capture_content=capture)
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("Done.")])
    guard = ToolGuardrail(PIIRedactor(), on="result")
    await contact_agent(model, tracing, guard).run("Who?")
    trip_agent = Agent(ScriptedModel([]), hooks=[tracing, InputGuardrail(no_passwords)])
    with pytest.raises(GuardrailTripped):
        await trip_agent.run("the password")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    redacted, tripped = spans["apply_guardrail pii_redactor"], spans["apply_guardrail no_passwords"]
    runs = [s for s in exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
    assert redacted.parent is not None and tripped.parent is not None
    assert {redacted.parent.span_id, tripped.parent.span_id} == {r.context.span_id for r in runs}
    attributes = dict(redacted.attributes or {})
    assert attributes["gen_ai.operation.name"] == "apply_guardrail"
    assert attributes["agentkit.guardrail.action"] == "replaced"
    assert attributes["gen_ai.tool.name"] == "get_weather"
    assert tripped.status.status_code is StatusCode.ERROR
    assert dict(tripped.attributes or {})["error.type"] == "GuardrailTripped"
    reason = dict(tripped.attributes or {}).get("agentkit.guardrail.reason")
    assert reason == ("asks for a password" if capture else None)
    assert redacted.start_time is not None and tripped.end_time is not None
    assert redacted.start_time <= (redacted.end_time or 0)


def test_the_cli_shows_what_a_guardrail_did_but_not_a_pass() -> None:
    """The plain renderer prints a line for a replacement, a refusal or a trip, and
    nothing for a check that passed."""
    out = TextSink()
    renderer = PlainRenderer(out)  # type: ignore[arg-type]
    renderer.event(GuardrailEvent("topic", "input", "passed"))
    renderer.event(
        GuardrailEvent(
            "pii_redactor", "tool_result", "replaced", "redacted 1 email", tool_name="lookup"
        )
    )
    renderer.event(GuardrailEvent("no_passwords", "input", "tripped", "asks for a password"))
    assert out.text == (
        "[guardrail pii_redactor] replaced the result of lookup: redacted 1 email\n"
        "[guardrail no_passwords] tripped the input: asks for a password\n"
    )


def test_a_chat_turn_shows_the_redaction_and_the_trip() -> None:
    """In ``agentkit chat`` a redacted tool result shows as a guardrail line and the
    result's redacted text; a tripped guardrail shows before the turn's error, and the
    conversation goes on."""
    from anyio.from_thread import start_blocking_portal

    from agentkit.cli._chat import _converse
    from agentkit.cli._turns import ChatSession

    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("Done.")])
    redactor = ToolGuardrail(PIIRedactor(), on="result")
    agent = contact_agent(model, redactor, InputGuardrail(no_passwords))
    out = TextSink()
    with start_blocking_portal() as portal:
        session = ChatSession(agent, portal, PlainRenderer(out))  # type: ignore[arg-type]
        _converse(session, input, "Who?")
        _converse(session, input, "the password")
    assert "[guardrail pii_redactor] replaced the result of get_weather: redacted 1 email\n" in (
        out.text
    )
    assert "[result] get_weather: Ask [EMAIL]." in out.text
    trip_line = "[guardrail no_passwords] tripped the input: asks for a password\n"
    assert trip_line in out.text
    after = out.text.split(trip_line, 1)[1]
    assert "asks for a password" in after and "goes on from before that turn" in after
    assert len(session.history) == 4


def _page_events(stream: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]


def test_the_page_receives_guardrail_events() -> None:
    """The web page's event stream carries a guardrail's replacement, and a trip before
    the run's error."""
    replies = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Done.")]
    with LocalModelServer(replies, style="mistral") as server:
        redactor = ToolGuardrail(PIIRedactor(), on="result")
        agent = contact_agent(model_on(server), redactor, InputGuardrail(no_passwords))
        with BackgroundServer(agent) as served:
            body = {"conversation": "tab-12345678", "prompt": "Who?"}
            events = _page_events(httpx2.post(served.url + "/api/chat", json=body).text)
            body = {"conversation": "tab-87654321", "prompt": "the password"}
            tripped = _page_events(httpx2.post(served.url + "/api/chat", json=body).text)
    (replaced,) = [e for e in events if e["type"] == "guardrail"]
    assert replaced["action"] == "replaced" and replaced["tool_name"] == "get_weather"
    (finished,) = [e for e in events if e["type"] == "tool_call_finished"]
    assert finished["result"] == "Ask [EMAIL]."
    kinds = [e["type"] for e in tripped]
    assert kinds[-2:] == ["guardrail", "run_error"]
    assert tripped[-2]["reason"] == "asks for a password"


def test_the_openai_endpoint_answers_a_trip_with_400() -> None:
    """On the OpenAI-compatible endpoint a tripped guardrail is a 400 the SDK does not
    retry, with the guardrail's reason; no model request was sent."""
    with LocalModelServer([reply_text("Here it is.")], style="mistral") as server:
        agent = contact_agent(model_on(server), InputGuardrail(no_passwords))
        with BackgroundServer(agent) as served:
            with openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=2) as api:
                with pytest.raises(openai.BadRequestError) as caught:
                    api.chat.completions.create(
                        model="agent", messages=[{"role": "user", "content": "the password?"}]
                    )
        assert server.requests == []
    error = caught.value
    assert error.status_code == 400 and error.code == "guardrail_tripped"
    assert "input guardrail refused: asks for a password" in error.message


def test_the_readme_example_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's guardrails example runs offline as written: the tool result is
    redacted and the password question is stopped."""
    blocks = [b.text for b in doc_blocks.blocks()]
    example = next(b for b in blocks if "PIIRedactor()" in b)
    exec(compile(example, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "Jane: [EMAIL], [PHONE]\nstopped: asks for a password\n"
