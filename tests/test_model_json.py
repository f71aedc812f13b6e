"""JSON a model wrote with a raw newline or tab inside a string is read, not refused."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel
from support import model_on

from agentkit import Agent, ToolMessage, tool
from agentkit.messages import dump_messages, load_messages
from agentkit.output import OutputSchema, OutputValidationError
from agentkit.schema import escape_raw_controls, model_json
from agentkit.testing.scripted import SCRIPTED_PROFILE, ScriptedModel, output_call, text
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls
from agentkit.tools import ToolArgumentsError

NATIVE = SCRIPTED_PROFILE.with_changes(output_mode="native")


class Note(BaseModel):
    title: str
    body: str


@tool
def save_note(title: str, body: str) -> str:
    """Save a note.

    Args:
        title: Its title.
        body: Its text.
    """
    return f"saved {title!r}: {body!r}"


def test_tool_arguments_with_a_raw_newline_and_tab_validate() -> None:
    """A tool's arguments with a newline and a tab written raw inside strings validate."""
    args = save_note.validate_args('{"title": "Trip\tlist", "body": "Pack:\nboots"}')
    assert args == {"title": "Trip\tlist", "body": "Pack:\nboots"}


def test_arguments_with_other_faults_are_still_refused() -> None:
    """Leniency stops at raw control characters in strings: broken JSON is still an error."""
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        save_note.validate_args('{"title": "a\nb", "body": ')
    with pytest.raises(ToolArgumentsError, match="not valid JSON"):
        save_note.validate_args('{"title": "a",\x01 "body": "b"}')  # between values


@pytest.mark.anyio
async def test_a_tool_call_over_http_with_a_raw_newline_runs_the_tool() -> None:
    """A server that sends arguments with a raw newline (llama.cpp's grammar allows it):
    the tool runs with the newline, no retry spent, and the next request is valid JSON."""
    replies = [
        reply_tool_calls(("save_note", '{"title": "Lyon", "body": "rain\n\tumbrella"}')),
        reply_text("Saved."),
    ]
    with LocalModelServer(replies, style="openai") as server:
        agent = Agent(model_on(server), tools=[save_note], retries=0)
        result = await agent.run("note it")
        second = server.bodies[1]
    answers = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [(m.is_error, m.content) for m in answers] == [
        (False, "saved 'Lyon': 'rain\\n\\tumbrella'")
    ]
    assert result.output == "Saved."
    sent = second["messages"][-2]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(sent, strict=False) == {"title": "Lyon", "body": "rain\n\tumbrella"}


@pytest.mark.anyio
async def test_structured_output_with_a_raw_newline_validates() -> None:
    """A final-result tool call and a native JSON answer with raw controls in strings
    are the output at the first try."""
    model = ScriptedModel([output_call('{"title": "A\tB", "body": "one\ntwo"}')])
    result = await Agent(model, output_type=Note, retries=0).run("a note")
    assert result.output == Note(title="A\tB", body="one\ntwo")
    native = ScriptedModel([text('{"title": "A", "body": "one\r\ntwo"}')], profile=NATIVE)
    result = await Agent(native, output_type=Note, retries=0).run("a note")
    assert result.output == Note(title="A", body="one\r\ntwo")


def test_wrapped_and_partial_outputs_read_raw_controls() -> None:
    """A wrapped (non-object) output and a streamed answer so far read raw controls too."""
    wrapped: OutputSchema[list[str]] = OutputSchema(list[str])
    assert wrapped.validate_arguments('{"result": ["a\nb", "c"]}') == ["a\nb", "c"]
    spec: OutputSchema[Note] = OutputSchema(Note)
    partial = spec.validate_partial('{"title": "A\tB", "body": "one\ntw')
    assert partial is not None
    assert partial.title == "A\tB"
    with pytest.raises(OutputValidationError, match="not valid JSON"):
        spec.validate_arguments('{"title": "A\nB", "body": "x"')


def test_escaping_touches_strings_only() -> None:
    """Newlines between values stay JSON whitespace; only characters inside strings are
    escaped, each the way JSON writes it."""
    data = '{\n  "a": "x\ny\tz\x01",\n  "b": ["\\n", "q\\"\n"]\n}'
    escaped = escape_raw_controls(data)
    assert escaped == '{\n  "a": "x\\ny\\tz\\u0001",\n  "b": ["\\n", "q\\"\\n"]\n}'
    assert json.loads(escaped) == json.loads(data, strict=False)
    assert escape_raw_controls('{"a": "b"}') is None
    assert model_json(b'{"a": "x\ny"}') == {"a": "x\ny"}


def test_what_agentkit_wrote_is_still_read_strictly() -> None:
    """A saved conversation with a raw control character in a string is refused: agentkit
    writes escaped JSON, so such a file was not written by it."""
    saved = dump_messages([ToolMessage(tool_call_id="c1", name="t", content="a\nb")]).decode()
    assert "\\n" in saved
    assert load_messages(saved)[0] == ToolMessage(tool_call_id="c1", name="t", content="a\nb")
    with pytest.raises(ValueError, match="control character"):
        load_messages(saved.replace("\\n", "\n"))
