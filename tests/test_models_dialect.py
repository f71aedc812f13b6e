"""Dialect rules, checked on the exact JSON reaching a real server through the openai SDK."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from agentkit._errors import ConfigurationError
from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import ModelRequest, ModelSettings, OutputSpec, ToolDefinition, complete
from agentkit.models.dialect import (
    BRIDGE_TEXT,
    MISSING_RESULT_TEXT,
    RequestEncoder,
    convert_messages,
    mistral_tool_call_id,
)
from agentkit.models.openai import OpenAIChatModel, RetryPolicy
from agentkit.models.profiles import (
    GENERIC_PROFILE,
    LLAMA_CPP_PROFILE,
    MISTRAL_SMALL_PROFILE,
    OPENAI_PROFILE,
)
from agentkit.schema import to_strict
from agentkit.testing.server import LocalModelServer, reply_text

MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
PNG = "data:image/png;base64,iVBORw0KGgo="

WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
TIME = ToolDefinition(
    name="get_time",
    description="Time in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


@pytest.fixture
def server() -> Iterator[LocalModelServer]:
    """A local server answering every request with the same short text."""
    with LocalModelServer(lambda request: reply_text("ok")) as srv:
        yield srv


async def sent(
    server: LocalModelServer,
    model_name: str,
    messages: Sequence[Message],
    *,
    stream: bool = False,
    **request: Any,
) -> dict[str, Any]:
    """Send one request through the real SDK and return the JSON body the server got."""
    model = OpenAIChatModel(
        model_name,
        base_url=server.base_url,
        api_key="test-key",
        retry=RetryPolicy(initial_delay=0.0),
    )
    req = ModelRequest(messages=list(messages), **request)
    if stream:
        async for _ in model.stream(replace(req, stream=True)):
            pass
    else:
        await complete(model, req)
    body: dict[str, Any] = server.requests[-1].body
    return body


def call(id_: str, name: str = "get_weather", args: str = '{"city": "Paris"}') -> ToolCall:
    """A tool call with this id."""
    return ToolCall(id=id_, name=name, arguments=args)


# --------------------------------------------------------------------------- whole bodies


@pytest.mark.anyio
async def test_mistral_small_body_is_exact(server: LocalModelServer) -> None:
    """A Mistral Small request carries max_tokens, temperature 0.15, tools, tool_choice: no more."""
    body = await sent(
        server,
        "mistral-small-2506",
        [SystemMessage(content="Be brief."), UserMessage(content="Weather in Paris?")],
        tools=(WEATHER,),
        tool_choice="auto",
    )
    assert body == {
        "model": "mistral-small-2506",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
        "tool_choice": "auto",
        "max_tokens": 8192,
        "temperature": 0.15,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city.",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
            }
        ],
    }


@pytest.mark.anyio
async def test_generic_body_is_exact(server: LocalModelServer) -> None:
    """An unknown model gets OpenAI's format, the generic 4096 max_tokens and no temperature."""
    body = await sent(server, "some-local-model", [UserMessage(content="hi")])
    assert body == {
        "model": "some-local-model",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
    }


@pytest.mark.anyio
async def test_settings_override_profile_defaults(server: LocalModelServer) -> None:
    """User settings win over the profile: max_tokens, temperature, top_p, stop and extra_body."""
    settings = ModelSettings(
        max_tokens=100, temperature=0.7, top_p=0.9, stop=("END",), extra_body={"foo": 1}
    )
    body = await sent(server, "mistral-small-2506", [UserMessage(content="hi")], settings=settings)
    assert body == {
        "model": "mistral-small-2506",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "temperature": 0.7,
        "top_p": 0.9,
        "stop": ["END"],
        "foo": 1,
    }


# --------------------------------------------------------------------------- fields


@pytest.mark.anyio
async def test_mistral_seed_is_sent_as_random_seed(server: LocalModelServer) -> None:
    """Mistral wants random_seed: a seed setting is renamed on the wire."""
    body = await sent(
        server, "mistral-small-2506", [UserMessage(content="hi")], settings=ModelSettings(seed=7)
    )
    assert body["random_seed"] == 7
    assert "seed" not in body


@pytest.mark.anyio
async def test_openai_seed_is_sent_as_seed(server: LocalModelServer) -> None:
    """Other servers get seed as it is."""
    body = await sent(
        server, "gpt-4o-mini", [UserMessage(content="hi")], settings=ModelSettings(seed=7)
    )
    assert body["seed"] == 7


@pytest.mark.anyio
async def test_max_completion_tokens_field_when_profile_says_so(server: LocalModelServer) -> None:
    """max_tokens_field='max_completion_tokens' sends the cap under that name only."""
    model = OpenAIChatModel(
        "o-model",
        base_url=server.base_url,
        api_key="k",
        profile=OPENAI_PROFILE.with_changes(max_tokens_field="max_completion_tokens"),
    )
    await complete(model, ModelRequest(messages=[UserMessage(content="hi")]))
    body = server.requests[-1].body
    assert body["max_completion_tokens"] == OPENAI_PROFILE.max_output_tokens
    assert "max_tokens" not in body


@pytest.mark.anyio
async def test_rejected_fields_are_never_sent(server: LocalModelServer) -> None:
    """A profile rejecting a field drops it even when the user set it (here: max_tokens, top_p)."""
    model = OpenAIChatModel(
        "x",
        base_url=server.base_url,
        api_key="k",
        profile=GENERIC_PROFILE.with_changes(rejected_fields=frozenset({"max_tokens", "top_p"})),
    )
    await complete(
        model, ModelRequest(messages=[UserMessage(content="hi")], settings=ModelSettings(top_p=0.5))
    )
    assert server.requests[-1].body == {
        "model": "x",
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.anyio
async def test_mistral_stream_has_no_stream_options(server: LocalModelServer) -> None:
    """Mistral rejects stream_options (it sends usage anyway): only stream=true is asked."""
    body = await sent(server, "mistral-small-2506", [UserMessage(content="hi")], stream=True)
    assert body["stream"] is True
    assert "stream_options" not in body


@pytest.mark.anyio
async def test_openai_stream_asks_for_usage(server: LocalModelServer) -> None:
    """Other servers are asked for usage on the last chunk with stream_options.include_usage."""
    body = await sent(server, "gpt-4o-mini", [UserMessage(content="hi")], stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
async def test_parallel_tool_calls_sent_only_with_tools_and_support(
    server: LocalModelServer,
) -> None:
    """parallel_tool_calls goes out when set and tools are present; never to llama.cpp."""
    settings = ModelSettings(parallel_tool_calls=False)
    body = await sent(
        server, "gpt-4o-mini", [UserMessage(content="hi")], tools=(WEATHER,), settings=settings
    )
    assert body["parallel_tool_calls"] is False
    body = await sent(server, "gpt-4o-mini", [UserMessage(content="hi")], settings=settings)
    assert "parallel_tool_calls" not in body
    body = await sent(
        server, "model.gguf", [UserMessage(content="hi")], tools=(WEATHER,), settings=settings
    )
    assert "parallel_tool_calls" not in body


# --------------------------------------------------------------------------- tool_choice


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model_name", "choice", "tools", "expected"),
    [
        ("mistral-small-2506", "required", (WEATHER, TIME), "required"),
        ("mistral-small-2506", "any", (WEATHER, TIME), "required"),
        ("mistral-small-2506", "none", (WEATHER,), "none"),
        (
            "mistral-small-2506",
            "get_time",
            (WEATHER, TIME),
            {"type": "function", "function": {"name": "get_time"}},
        ),
        ("gpt-4o", "required", (WEATHER,), "required"),
        # llama.cpp answers 500 to "required": one tool is named instead, several -> auto
        (
            "model.gguf",
            "required",
            (WEATHER,),
            {"type": "function", "function": {"name": "get_weather"}},
        ),
        ("model.gguf", "required", (WEATHER, TIME), "auto"),
    ],
)
async def test_tool_choice_mapping(
    server: LocalModelServer,
    model_name: str,
    choice: str,
    tools: tuple[ToolDefinition, ...],
    expected: object,
) -> None:
    """tool_choice is mapped to what each server accepts."""
    body = await sent(
        server, model_name, [UserMessage(content="hi")], tools=tools, tool_choice=choice
    )
    assert body["tool_choice"] == expected


@pytest.mark.anyio
async def test_no_tool_choice_without_tools(server: LocalModelServer) -> None:
    """tool_choice is never sent when the request has no tools."""
    body = await sent(server, "gpt-4o", [UserMessage(content="hi")], tool_choice="required")
    assert "tool_choice" not in body
    assert "tools" not in body


@pytest.mark.anyio
async def test_named_choice_falls_back_when_unsupported(server: LocalModelServer) -> None:
    """A server that drops the named form gets the "some tool" value instead."""
    model = OpenAIChatModel(
        "gw",
        base_url=server.base_url,
        api_key="k",
        profile=GENERIC_PROFILE.with_changes(supports_named_tool_choice=False),
    )
    await complete(
        model,
        ModelRequest(
            messages=[UserMessage(content="hi")], tools=(WEATHER, TIME), tool_choice="get_time"
        ),
    )
    assert server.requests[-1].body["tool_choice"] == "required"


# --------------------------------------------------------------------------- structured output


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    "required": ["city"],
}


@pytest.mark.anyio
async def test_native_output_is_json_schema(server: LocalModelServer) -> None:
    """Native output on Mistral is response_format json_schema with name, schema and strict."""
    spec = OutputSpec(mode="native", name="Weather", schema=SCHEMA, description="The weather.")
    body = await sent(server, "mistral-small-2506", [UserMessage(content="hi")], output=spec)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "Weather",
            "schema": SCHEMA,
            "strict": False,
            "description": "The weather.",
        },
    }


@pytest.mark.anyio
async def test_strict_native_output_uses_the_mistral_transform(server: LocalModelServer) -> None:
    """Strict output on Mistral sends the schema as to_strict(..., 'mistral') makes it."""
    spec = OutputSpec(mode="native", name="Weather", schema=SCHEMA, strict=True)
    body = await sent(server, "mistral-small-2506", [UserMessage(content="hi")], output=spec)
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == to_strict(SCHEMA, "mistral")
    assert body["response_format"]["json_schema"]["schema"]["additionalProperties"] is False


@pytest.mark.anyio
async def test_prompted_output_on_llama_cpp_is_json_object_with_schema(
    server: LocalModelServer,
) -> None:
    """llama.cpp cannot do json_schema: prompted output is json_object carrying the schema."""
    spec = OutputSpec(mode="prompted", name="Weather", schema=SCHEMA)
    body = await sent(server, "model.gguf", [UserMessage(content="hi")], output=spec)
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}


@pytest.mark.anyio
async def test_native_asked_of_llama_cpp_degrades_to_json_object(server: LocalModelServer) -> None:
    """Native output asked of a server without json_schema is sent as json_object + schema."""
    spec = OutputSpec(mode="native", name="Weather", schema=SCHEMA)
    body = await sent(server, "model.gguf", [UserMessage(content="hi")], output=spec)
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}


@pytest.mark.anyio
async def test_prompted_output_on_openai_is_plain_json_object(server: LocalModelServer) -> None:
    """Prompted output elsewhere is json_object without a schema."""
    spec = OutputSpec(mode="prompted", name="Weather", schema=SCHEMA)
    body = await sent(server, "gpt-4o", [UserMessage(content="hi")], output=spec)
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.anyio
async def test_tool_output_mode_sends_no_response_format(server: LocalModelServer) -> None:
    """In tool mode the output is a tool: no response_format."""
    spec = OutputSpec(mode="tool", name="final_result", schema=SCHEMA)
    body = await sent(server, "gpt-4o", [UserMessage(content="hi")], output=spec)
    assert "response_format" not in body


@pytest.mark.anyio
async def test_strict_tools_use_the_profile_transform(server: LocalModelServer) -> None:
    """A strict tool is sent with strict=true and the schema made strict for the server's style."""
    strict_tool = ToolDefinition(
        name="get_weather", description="W.", parameters=SCHEMA, strict=True
    )
    body = await sent(server, "gpt-4o", [UserMessage(content="hi")], tools=(strict_tool,))
    function = body["tools"][0]["function"]
    assert function["strict"] is True
    assert function["parameters"] == to_strict(SCHEMA, "openai")
    body = await sent(
        server, "mistral-small-2506", [UserMessage(content="hi")], tools=(strict_tool,)
    )
    assert body["tools"][0]["function"]["parameters"] == to_strict(SCHEMA, "mistral")


@pytest.mark.anyio
async def test_strict_tool_incompatible_schema_is_sent_non_strict(server: LocalModelServer) -> None:
    """A schema OpenAI's strict mode cannot express goes out without strict."""
    free_form = {"type": "object", "additionalProperties": {"type": "integer"}}
    tool = ToolDefinition(name="count", description="C.", parameters=free_form, strict=True)
    assert to_strict(free_form, "openai") is None
    body = await sent(server, "gpt-4o", [UserMessage(content="hi")], tools=(tool,))
    assert "strict" not in body["tools"][0]["function"]
    assert body["tools"][0]["function"]["parameters"] == free_form


def test_tool_definitions_are_encoded_once_per_tools_tuple() -> None:
    """Repeated turns with the same tools tuple reuse the encoded tools (no per-request work)."""
    encoder = RequestEncoder("gpt-4o", OPENAI_PROFILE, ModelSettings())
    tools = (WEATHER,)
    request = ModelRequest(messages=[UserMessage(content="hi")], tools=tools)
    first = encoder.encode(request)
    cached = encoder._tools[id(tools)][1]
    second = encoder.encode(request)
    assert first == second
    assert encoder._tools[id(tools)][1] is cached


def test_settings_merged_once_per_run_follow_each_request() -> None:
    """The encoder remembers the last request's merged settings, yet a request with other
    settings (or the first ones again) is encoded with its own, as a fresh encoder would."""
    own = ModelSettings(max_tokens=50, temperature=0.5)
    encoder = RequestEncoder("gpt-4o", OPENAI_PROFILE, own)
    first = ModelSettings(temperature=0.1)
    second = ModelSettings(max_tokens=7, seed=3)
    for settings in (first, first, second, first, ModelSettings()):
        request = ModelRequest(messages=[UserMessage(content="hi")], settings=settings)
        fresh = RequestEncoder("gpt-4o", OPENAI_PROFILE, own).encode(request)
        assert encoder.encode(request) == fresh


# --------------------------------------------------------------------------- messages


@pytest.mark.anyio
async def test_user_images_are_image_url_parts(server: LocalModelServer) -> None:
    """User images go out as image_url parts (URL and data URL), with detail when set."""
    content = (
        TextPart(text="What is this?"),
        ImagePart(url="https://example.com/cat.png"),
        ImagePart(url=PNG, detail="low"),
    )
    body = await sent(server, "mistral-small-2506", [UserMessage(content=content)])
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            ],
        }
    ]


@pytest.mark.anyio
async def test_image_to_a_model_without_vision_is_a_clear_error(server: LocalModelServer) -> None:
    """An image sent to a profile without vision fails before any request, naming the fix."""
    model = OpenAIChatModel("some-local-model", base_url=server.base_url, api_key="k")
    with pytest.raises(ConfigurationError, match=r"has no vision.*supports_vision=True"):
        await complete(model, ModelRequest(messages=[UserMessage(content=(ImagePart(url=PNG),))]))
    assert server.requests == []


@pytest.mark.anyio
async def test_openai_conversation_with_tools_is_exact(server: LocalModelServer) -> None:
    """On OpenAI, ids go out unchanged, tool calls have type function, tool messages are text."""
    messages: list[Message] = [
        UserMessage(content="Weather?"),
        AssistantMessage(content=None, tool_calls=(call("call_abc123"),)),
        ToolMessage(tool_call_id="call_abc123", name="get_weather", content="sunny"),
    ]
    body = await sent(server, "gpt-4o", messages)
    assert body["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc123", "content": "sunny"},
    ]


@pytest.mark.anyio
async def test_llama_cpp_never_gets_null_assistant_content(server: LocalModelServer) -> None:
    """llama.cpp answers 500 to null content: the assistant's content goes out as ""."""
    messages: list[Message] = [
        UserMessage(content="Weather?"),
        AssistantMessage(content=None, tool_calls=(call("call__0_get_weather_cmpl-1"),)),
        ToolMessage(tool_call_id="call__0_get_weather_cmpl-1", name="get_weather", content="sunny"),
    ]
    body = await sent(server, "model.gguf", messages)
    assert body["messages"][1]["content"] == ""
    assert body["messages"][1]["tool_calls"][0]["id"] == "call__0_get_weather_cmpl-1"


@pytest.mark.anyio
async def test_tool_images_move_to_a_user_message_after_the_tool_run(
    server: LocalModelServer,
) -> None:
    """On OpenAI, images a tool returned follow the run of tool messages in one user message."""
    messages: list[Message] = [
        UserMessage(content="Show me."),
        AssistantMessage(tool_calls=(call("call_1", "snap"), call("call_2", "get_weather"))),
        ToolMessage(
            tool_call_id="call_1", name="snap", content="photo taken", images=(ImagePart(url=PNG),)
        ),
        ToolMessage(tool_call_id="call_2", name="get_weather", content="sunny"),
    ]
    body = await sent(server, "gpt-4o", messages)
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "photo taken"},
        {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool 'snap' (call call_1):"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
    ]


@pytest.mark.anyio
async def test_mistral_tool_images_get_a_bridge_before_the_user_message(
    server: LocalModelServer,
) -> None:
    """Mistral rejects user after tool: the images' user message follows a bridge text."""
    messages: list[Message] = [
        UserMessage(content="Show me."),
        AssistantMessage(tool_calls=(call("abcDEF123", "snap"),)),
        ToolMessage(
            tool_call_id="abcDEF123",
            name="snap",
            content="photo taken",
            images=(ImagePart(url=PNG),),
        ),
    ]
    body = await sent(server, "mistral-small-2506", messages)
    assert body["messages"][2:] == [
        {"role": "tool", "tool_call_id": "abcDEF123", "content": "photo taken"},
        {"role": "assistant", "content": BRIDGE_TEXT},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool 'snap' (call abcDEF123):"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
    ]


def test_tool_images_to_a_model_without_vision_is_a_clear_error() -> None:
    """A tool's image sent to a profile without vision is a ConfigurationError naming the tool."""
    messages: list[Message] = [
        UserMessage(content="Show me."),
        AssistantMessage(tool_calls=(call("c1", "snap"),)),
        ToolMessage(tool_call_id="c1", name="snap", content="x", images=(ImagePart(url=PNG),)),
    ]
    with pytest.raises(ConfigurationError, match=r"returned by tool 'snap'.*no vision"):
        convert_messages(messages, GENERIC_PROFILE)


# --------------------------------------------------------------------------- Mistral ids


def test_mistral_ids_are_deterministic_and_valid() -> None:
    """The same original id maps to the same 9 alphanumerics every time; valid ids are kept."""
    assert mistral_tool_call_id("call_abc") == mistral_tool_call_id("call_abc")
    assert MISTRAL_ID.match(mistral_tool_call_id("call_abc"))
    assert MISTRAL_ID.match(mistral_tool_call_id(""))
    assert mistral_tool_call_id("abcDEF123") == "abcDEF123"
    assert mistral_tool_call_id("call_abc") != mistral_tool_call_id("call_abc", 1)


@pytest.mark.anyio
async def test_long_ids_from_another_server_continue_on_mistral(server: LocalModelServer) -> None:
    """A conversation with llama.cpp and OpenAI ids reaches Mistral with valid, paired ids."""
    llama_ids = [f"call__{i}_get_weather_cmpl-8f14e45f-ceea-467a-9575-{i:012d}" for i in range(2)]
    messages: list[Message] = [
        SystemMessage(content="Be brief."),
        UserMessage(content="Weather in Paris and Rome?"),
        AssistantMessage(
            content="",
            tool_calls=(call(llama_ids[0]), call(llama_ids[1], args='{"city": "Rome"}')),
        ),
        ToolMessage(tool_call_id=llama_ids[0], name="get_weather", content="sunny"),
        ToolMessage(tool_call_id=llama_ids[1], name="get_weather", content="rain"),
        AssistantMessage(content="Paris sunny, Rome rain."),
        UserMessage(content="And Oslo?"),
        AssistantMessage(
            tool_calls=(call("call_Xy12ab34Cd56Ef78Gh90Ij12", args='{"city": "Oslo"}'),)
        ),
        ToolMessage(
            tool_call_id="call_Xy12ab34Cd56Ef78Gh90Ij12", name="get_weather", content="snow"
        ),
        # a server that reuses ids across turns
        AssistantMessage(tool_calls=(call(llama_ids[0], args='{"city": "Oslo"}'),)),
        ToolMessage(tool_call_id=llama_ids[0], name="get_weather", content="still snow"),
    ]
    first = await sent(server, "mistral-small-2506", messages)
    again = await sent(server, "mistral-small-2506", messages)
    assert first["messages"] == again["messages"]  # resending maps every id the same way

    wire = first["messages"]
    call_ids: list[str] = []
    pairs: dict[str, str] = {}
    for m in wire:
        for tc in m.get("tool_calls", ()):
            assert MISTRAL_ID.match(tc["id"]), tc["id"]
            call_ids.append(tc["id"])
        if m["role"] == "tool":
            assert MISTRAL_ID.match(m["tool_call_id"]), m["tool_call_id"]
            pairs[m["tool_call_id"]] = m["content"]
    assert len(call_ids) == len(set(call_ids)) == 4
    # every call is answered by the result that answered it originally
    assert [pairs[i] for i in call_ids] == ["sunny", "rain", "snow", "still snow"]
    # and the stored messages keep their original ids
    assert messages[2].tool_calls[0].id == llama_ids[0]  # type: ignore[union-attr]


def test_mistral_id_collisions_are_resolved() -> None:
    """A kept 9-char id and a distinct id mapping onto it still get distinct wire ids."""
    taken = mistral_tool_call_id("call_first")
    messages: list[Message] = [
        UserMessage(content="go"),
        AssistantMessage(tool_calls=(call(taken), call("call_first"))),
        ToolMessage(tool_call_id=taken, name="get_weather", content="a"),
        ToolMessage(tool_call_id="call_first", name="get_weather", content="b"),
    ]
    wire = convert_messages(messages, MISTRAL_SMALL_PROFILE)
    ids = [tc["id"] for tc in wire[1]["tool_calls"]]
    assert ids[0] == taken
    assert ids[1] != taken and MISTRAL_ID.match(ids[1])
    assert [m["tool_call_id"] for m in wire[2:]] == ids


# --------------------------------------------------------------------------- Mistral order


def test_mistral_order_repairs() -> None:
    """Mistral's order rules: empty assistants dropped, missing results filled, bridges inserted."""
    messages: list[Message] = [
        SystemMessage(content="S"),
        UserMessage(content="u1"),
        AssistantMessage(content=None),  # empty: dropped
        AssistantMessage(tool_calls=(call("aaaaaaaa1"), call("aaaaaaaa2"))),
        ToolMessage(tool_call_id="aaaaaaaa1", name="get_weather", content="r1"),
        # aaaaaaaa2 never answered
        UserMessage(content="u2"),
        SystemMessage(content="late system"),  # after user: allowed
        AssistantMessage(content="a"),
        SystemMessage(content="after assistant"),  # not allowed: sent as user
        ToolMessage(tool_call_id="nobody", name="get_time", content="orphan"),  # answers no call
    ]
    wire = convert_messages(messages, MISTRAL_SMALL_PROFILE)
    assert wire == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "aaaaaaaa1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "aaaaaaaa2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "aaaaaaaa1", "content": "r1"},
        {"role": "tool", "tool_call_id": "aaaaaaaa2", "content": MISSING_RESULT_TEXT},
        {"role": "assistant", "content": BRIDGE_TEXT},
        {"role": "user", "content": "u2"},
        {"role": "system", "content": "late system"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "after assistant"},
        {"role": "user", "content": "Result of tool 'get_time':\norphan"},
    ]


def test_mistral_final_assistant_message_becomes_a_prefix() -> None:
    """A conversation ending on assistant text is sent with prefix: true (Mistral continues it)."""
    wire = convert_messages(
        [UserMessage(content="Write a poem."), AssistantMessage(content="Roses are")],
        MISTRAL_SMALL_PROFILE,
    )
    assert wire[-1] == {"role": "assistant", "content": "Roses are", "prefix": True}


def test_other_servers_get_the_conversation_unrepaired() -> None:
    """Mistral's bridges are Mistral's: OpenAI and llama.cpp get a user right after a tool."""
    messages: list[Message] = [
        UserMessage(content="u1"),
        AssistantMessage(tool_calls=(call("c1"),)),
        ToolMessage(tool_call_id="c1", name="get_weather", content="r1"),
        UserMessage(content="u2"),
    ]
    wire = convert_messages(messages, OPENAI_PROFILE)
    assert [m["role"] for m in wire] == ["user", "assistant", "tool", "user"]
    assert convert_messages(messages, LLAMA_CPP_PROFILE)[1]["content"] == ""
