"""agentkit's MCP client against the reference ``server-everything`` (npm, run by node over
stdio): every tool agentkit offers from it is called, and elicitation, resources, prompts,
structured content and the task-only tool each have a test."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import mcp
import pytest
from support import node_bin

from agentkit import Agent
from agentkit.mcp import Elicitation, ElicitationReply, MCPError, MCPServer
from agentkit.messages import TextPart, ToolMessage, UserMessage
from agentkit.testing import ScriptedModel, tool_calls

pytestmark = pytest.mark.anyio

GZ_DATA = "data:text/plain;base64," + base64.b64encode(b"hello hello").decode()

CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "echo": ({"message": "hello"}, "Echo: hello"),
    "get-annotated-message": ({"messageType": "success", "includeImage": True}, "successfully"),
    "get-env": ({}, '"PATH"'),
    "get-resource-links": ({"count": 2}, "[resource demo://resource/dynamic/text/2]"),
    "get-resource-reference": ({"resourceType": "Text", "resourceId": 2}, "Resource 2:"),
    "get-structured-content": ({"location": "Chicago"}, "Light rain / drizzle"),
    "get-sum": ({"a": 2, "b": 3}, "is 5"),
    "get-tiny-image": ({}, "MCP logo"),
    "gzip-file-as-resource": (
        {"name": "hello.txt.gz", "data": GZ_DATA, "outputType": "resource"},
        "[resource demo://resource/session/hello.txt.gz: application/gzip",
    ),
    "toggle-simulated-logging": ({}, "logging"),
    "toggle-subscriber-updates": ({}, "resource updated notifications"),
    "trigger-elicitation-request": ({}, "Name: Ada"),
    "trigger-long-running-operation": ({"duration": 0.2, "steps": 2}, "Steps: 2"),
    "trigger-url-elicitation": ({"url": "https://example.com/login"}, "completed the URL"),
    "trigger-sampling-request": ({"prompt": "Say hi", "maxTokens": 20}, "hi there"),
}
"""Each tool server-everything offers agentkit, the arguments it is called with, and a piece
of what its answer must contain."""

IMAGES = {"get-annotated-message", "get-tiny-image"}


def _answer(request: Elicitation) -> ElicitationReply:
    """The scripted user: gives the name the form asks for, opens every URL."""
    return ElicitationReply.accept({"name": "Ada"} if request.mode == "form" else None)


def _everything(**kwargs: Any) -> MCPServer:
    kwargs.setdefault("elicitation_handler", _answer)
    return MCPServer.stdio(
        node_bin("mcp-server-everything"), ["stdio"], name="everything", **kwargs
    )


SLOW = {"toggle-simulated-logging", "toggle-subscriber-updates"}
"""Tools after which node no longer ends when its stdin closes (a timer keeps it alive): the
SDK stops it after its grace period, so these tests take over 3 s."""


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in sorted(CALLS)]
)
async def test_every_tool_agentkit_offers_can_be_called(name: str) -> None:
    """Each tool server-everything offers answers its call without error, with what it
    should say (and images as images)."""
    arguments, expected = CALLS[name]
    async with _everything(sampling_model=ScriptedModel(["hi there"])) as server:
        tools = {t.name: t for t in await server.list_tools()}
        result = await tools[name](**arguments)
    assert not result.is_error, result.content
    assert expected in result.content
    assert bool(result.images) == (name in IMAGES)


async def test_the_offered_tools_are_all_tested_and_the_task_only_one_is_left_out() -> None:
    """agentkit offers exactly the tools called above; the server's task-only tool
    (``taskSupport: required``) is listed by the server but not offered."""
    command = node_bin("mcp-server-everything")
    async with _everything(sampling_model=ScriptedModel([])) as server:
        offered = {t.name for t in await server.list_tools()}
    assert offered == set(CALLS)
    params = mcp.StdioServerParameters(command=command, args=["stdio"])
    async with mcp.Client(params) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    research = listed["simulate-research-query"].execution
    assert research is not None and research.task_support == "required"


async def test_an_elicitation_in_a_run_is_answered_by_the_handler() -> None:
    """The model calls a tool that asks the user; the handler gets the server's message and
    form, and its answer reaches the tool and so the model."""
    asked: list[Elicitation] = []

    async def handler(request: Elicitation) -> ElicitationReply:
        asked.append(request)
        return ElicitationReply.accept({"name": "Grace", "check": True})

    model = ScriptedModel([tool_calls(("trigger-elicitation-request", {})), "done"])
    agent = Agent(model, tools=[_everything(elicitation_handler=handler)])
    result = await agent.run("ask me")
    assert result.output == "done"
    [request] = asked
    assert request.server == "'everything'" and request.mode == "form"
    assert "name" in request.fields and request.fields["name"]["type"] == "string"
    [answer] = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert "Name: Grace" in str(answer.content)


async def test_without_a_handler_an_elicitation_is_declined() -> None:
    """With no elicitation handler the server's question is declined and the tool says so."""
    async with _everything(elicitation_handler=None) as server:
        tools = {t.name: t for t in await server.list_tools()}
        result = await tools["trigger-elicitation-request"]()
    assert not result.is_error
    assert "declined" in result.content


async def test_an_answer_that_does_not_fit_the_form_is_an_error_for_the_server() -> None:
    """A handler accepting with a value of the wrong type is not passed on: the server gets
    an error naming the field, and the tool reports it."""
    server = _everything(elicitation_handler=lambda r: ElicitationReply.accept({"name": 7}))
    async with server:
        tools = {t.name: t for t in await server.list_tools()}
        result = await tools["trigger-elicitation-request"]()
    assert "name: 7 is not of type 'string'" in result.content


async def test_resources_text_blob_templates_and_list_changes() -> None:
    """Resources are listed and read (text as text, a text/plain blob decoded), templates
    are listed and filled, and a resource the server adds is announced and listed."""
    async with _everything() as server:
        uris = [r.uri for r in await server.list_resources()]
        assert "demo://resource/static/document/features.md" in uris
        [features] = await server.read_resource("demo://resource/static/document/features.md")
        assert isinstance(features, TextPart) and "# Everything Server - Features" in features.text
        templates = {t.name: t.uri_template for t in await server.list_resource_templates()}
        blob_uri = templates["Dynamic Blob Resource"].format(resourceId=3)
        [blob] = await server.read_resource(blob_uri)
        assert isinstance(blob, TextPart) and blob.text.startswith("Resource 3: ")
        with pytest.raises(MCPError, match="'everything' could not read"):
            await server.read_resource("demo://resource/nowhere")

        tools = {t.name: t for t in await server.list_tools()}
        with anyio.fail_after(10):  # a safety net: the notice comes at once
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.resources_changed)
                await tools["gzip-file-as-resource"](name="notes.gz", data=GZ_DATA)
        assert "demo://resource/session/notes.gz" in [r.uri for r in await server.list_resources()]


async def test_prompts_as_instructions_and_as_a_conversation_start() -> None:
    """Prompts are listed and filled in; one starts a conversation (its messages sent first),
    one with an embedded resource carries the resource's text, and a prompt's text serves as
    instructions."""
    async with _everything() as server:
        names = {p.name for p in await server.list_prompts()}
        assert {"simple-prompt", "args-prompt", "resource-prompt"} <= names
        weather = await server.get_prompt("args-prompt", {"city": "Paris"})
        embedded = await server.get_prompt(
            "resource-prompt", {"resourceType": "Text", "resourceId": "4"}
        )
        with pytest.raises(MCPError, match="'everything' could not get the prompt 'nowhere'"):
            await server.get_prompt("nowhere")
    assert weather.messages == (UserMessage(content="What's weather in Paris?"),)
    assert "Resource 4: This is a plaintext resource" in embedded.text

    model = ScriptedModel(["Sunny."])
    agent = Agent(model, instructions=weather.text)
    await agent.run(weather.prompt, message_history=weather.history)
    sent = model.requests[0].messages
    assert sent[0].content == "What's weather in Paris?"  # the instructions
    assert sent[-1] == UserMessage(content="What's weather in Paris?")


async def test_structured_content_reaches_the_model_as_json() -> None:
    """A tool with an outputSchema: its structured content, checked by the SDK, is the tool
    message, as JSON (the text block repeating it is not sent twice)."""
    model = ScriptedModel([tool_calls(("get-structured-content", {"location": "Chicago"})), "ok"])
    await Agent(model, tools=[_everything()]).run("weather?")
    [answer] = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert json.loads(str(answer.content)) == {
        "temperature": 36,
        "conditions": "Light rain / drizzle",
        "humidity": 82,
    }
