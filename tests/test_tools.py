"""Tests for agentkit.tools: @tool, Tool, RunContext, argument validation, tool results."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from agentkit._errors import ModelRetry, ToolDefinitionError, UserError
from agentkit.messages import ImagePart
from agentkit.models.base import ToolDefinition
from agentkit.tools import (
    RunContext,
    Tool,
    ToolArgumentsError,
    _tools_by_name,
    tool,
    tool_result_content,
)
from agentkit.usage import Usage

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


@dataclasses.dataclass
class Deps:
    greeting: str


class Point(BaseModel):
    x: int
    y: int = 0


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Current weather in a city.

    Args:
        city: The city name, e.g. "Paris".
        unit: Temperature unit.
    """
    return f"{city}: 20 {unit} in thread {threading.get_ident()}"


@tool(name="async-echo", description="Echo a point back.", strict=True)
async def echo(point: Point, times: int = 1) -> list[Point]:
    return [point] * times


@tool
def greet(ctx: RunContext[Deps], name: str) -> str:
    """Greet someone using the deps."""
    return f"{ctx.deps.greeting}, {name} (call {ctx.tool_call_id}, retry {ctx.retry})"


def make_ctx(deps: Any = None, **changes: Any) -> RunContext[Any]:
    return RunContext(deps=deps, usage=Usage(), messages=[], **changes)


# --------------------------------------------------------------------------- definition


def test_decorated_tool_attributes() -> None:
    """@tool reads name, description, parameters and sync-ness from the function."""
    assert isinstance(get_weather, Tool)
    assert get_weather.name == "get_weather"
    assert get_weather.description == "Current weather in a city."
    assert get_weather.parameters == {
        "additionalProperties": False,
        "properties": {
            "city": {"description": 'The city name, e.g. "Paris".', "type": "string"},
            "unit": {
                "default": "celsius",
                "description": "Temperature unit.",
                "enum": ["celsius", "fahrenheit"],
                "type": "string",
            },
        },
        "required": ["city"],
        "type": "object",
    }
    assert get_weather.strict is None
    assert get_weather.is_async is False
    assert get_weather.takes_ctx is False


def test_decorator_with_options() -> None:
    """@tool(name=, description=, strict=) overrides the defaults; async is detected."""
    assert echo.name == "async-echo"
    assert echo.description == "Echo a point back."
    assert echo.strict is True
    assert echo.is_async is True
    assert echo.parameters["properties"]["point"] == {"$ref": "#/$defs/Point"}


def test_definition_is_built_once() -> None:
    """``definition`` is the same ToolDefinition object every time, carrying the schema."""
    d = echo.definition
    assert isinstance(d, ToolDefinition)
    assert d is echo.definition
    assert d == ToolDefinition(
        name="async-echo",
        description="Echo a point back.",
        parameters=echo.parameters,
        strict=True,
    )


def test_run_context_is_not_in_the_schema() -> None:
    """A first RunContext parameter is detected and kept out of the parameters schema."""
    assert greet.takes_ctx is True
    assert list(greet.parameters["properties"]) == ["name"]
    assert greet.parameters["required"] == ["name"]


def test_decorated_function_is_still_the_plain_function() -> None:
    """Calling a Tool calls the function; wrapper metadata is kept."""
    assert get_weather("Paris").startswith("Paris: 20 celsius")
    assert get_weather(city="Oslo", unit="fahrenheit").startswith("Oslo: 20 fahrenheit")
    assert get_weather.__name__ == "get_weather"
    assert get_weather.__doc__ is not None and "Current weather" in get_weather.__doc__
    assert greet(make_ctx(Deps("Hi")), "Ann").startswith("Hi, Ann")


@pytest.mark.anyio
async def test_async_tool_called_plainly_returns_a_coroutine() -> None:
    """Calling an async Tool returns the coroutine, which awaits to the function's result."""
    assert await echo(Point(x=1), 2) == [Point(x=1), Point(x=1)]


def test_tool_class_directly() -> None:
    """Tool(fn, ...) works without the decorator, on lambdas given a name, and on methods."""

    class Service:
        def lookup(self, key: str) -> str:
            """Look a key up."""
            return key.upper()

    t = Tool(Service().lookup)
    assert t.name == "lookup"
    assert list(t.parameters["properties"]) == ["key"]
    assert t("a") == "A"
    named = Tool(lambda: "constant", name="constant")
    assert named.name == "constant" and named() == "constant"


@pytest.mark.parametrize("bad", ["", "has space", "a" * 65, "naïve", "dots.in.name"])
def test_invalid_tool_names(bad: str) -> None:
    """Names outside ^[a-zA-Z0-9_-]{1,64}$ raise ToolDefinitionError saying how to fix them."""
    with pytest.raises(ToolDefinitionError) as info:
        tool(name=bad)(lambda: None)
    assert str(info.value) == (
        f"tool name {bad!r} (function test_invalid_tool_names.<locals>.<lambda>) is invalid: "
        "names must be 1 to 64 letters, digits, '_' or '-'. Pass name='...' to choose one"
    )


def test_lambda_needs_a_name() -> None:
    """A lambda's ``<lambda>`` name is rejected with the hint to pass name=."""
    with pytest.raises(ToolDefinitionError, match=r"tool name '<lambda>' .* Pass name="):
        Tool(lambda: None)


def test_bad_signature_raises_at_decoration() -> None:
    """A function that cannot be a tool fails when decorated, naming the parameter."""
    with pytest.raises(ToolDefinitionError) as info:

        @tool
        def bad(city) -> None:  # type: ignore[no-untyped-def]
            pass

    assert str(info.value) == (
        "parameter 'city' of tool function 'test_bad_signature_raises_at_decoration.<locals>.bad' "
        "has no type annotation; annotate it (e.g. `city: str`) so the model knows what to send"
    )


def test_wrapping_a_tool_again_is_an_error() -> None:
    """Tool(tool) is rejected with the hint to use .function."""
    with pytest.raises(ToolDefinitionError) as info:
        Tool(get_weather)
    assert str(info.value) == (
        "'get_weather' is already a Tool; pass its .function to re-wrap it with other options"
    )


def test_async_detection_through_partial_and_callable_objects() -> None:
    """functools.partial of an async function and objects with async __call__ are async."""

    async def add(a: int, b: int) -> int:
        return a + b

    class Caller:
        async def __call__(self, q: str) -> str:
            return q

    assert Tool(functools.partial(add, 1), name="add_one").is_async is True
    assert Tool(Caller(), name="caller").is_async is True


# --------------------------------------------------------------------------- arguments


def test_validate_args_typed() -> None:
    """Valid JSON arguments come back as typed keyword arguments."""
    assert echo.validate_args('{"point": {"x": 1}}') == {"point": Point(x=1)}
    assert get_weather.validate_args(b'{"city": "Paris", "unit": "fahrenheit"}') == {
        "city": "Paris",
        "unit": "fahrenheit",
    }


@pytest.mark.parametrize("empty", ["", "   "])
def test_empty_arguments_mean_no_arguments(empty: str) -> None:
    """An empty arguments string counts as ``{}``."""

    @tool
    def ping() -> str:
        return "pong"

    assert ping.validate_args(empty) == {}


def test_invalid_json_arguments() -> None:
    """Invalid JSON gives the parser's reason and what to do."""
    with pytest.raises(ToolArgumentsError) as info:
        get_weather.validate_args('{"city": "Paris"')
    assert str(info.value) == (
        "the arguments are not valid JSON (EOF while parsing an object at line 1 column 16). "
        "Send the arguments as one JSON object matching the tool's parameters."
    )


def test_non_object_arguments() -> None:
    """A JSON value that is not an object is reported as such."""
    with pytest.raises(ToolArgumentsError) as info:
        get_weather.validate_args('["Paris"]')
    assert str(info.value) == (
        "the arguments must be a JSON object with the parameters as keys. "
        "Send one JSON object matching the tool's parameters."
    )


def test_arguments_failing_validation() -> None:
    """Validation errors are listed field by field, then what to do."""
    with pytest.raises(ToolArgumentsError) as info:
        get_weather.validate_args('{"unit": "kelvin"}')
    assert str(info.value) == (
        "2 errors:\n"
        "- city: Field required\n"
        "- unit: Input should be 'celsius' or 'fahrenheit' (got 'kelvin')\n"
        "Fix these arguments and call the tool again."
    )
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- running


@pytest.mark.anyio
async def test_sync_tool_runs_in_a_worker_thread() -> None:
    """A sync tool runs through anyio's thread pool, not on the event loop's thread."""
    result = await get_weather.run(None, {"city": "Paris"})
    assert result.startswith("Paris: 20 celsius in thread ")
    assert int(result.rsplit(" ", 1)[1]) != threading.get_ident()


@pytest.mark.anyio
async def test_async_tool_runs_on_the_event_loop() -> None:
    """An async tool is awaited on the event loop's thread."""
    seen: list[int] = []

    @tool
    async def where(tag: str) -> str:
        seen.append(threading.get_ident())
        return tag

    assert await where.run(None, where.validate_args('{"tag": "a"}')) == "a"
    assert seen == [threading.get_ident()]


@pytest.mark.anyio
async def test_run_context_is_injected() -> None:
    """run() passes the context first to tools that take one."""
    ctx = make_ctx(Deps("Hello"), tool_call_id="abc123XYZ", tool_name="greet", retry=2)
    result = await greet.run(ctx, greet.validate_args('{"name": "Ann"}'))
    assert result == "Hello, Ann (call abc123XYZ, retry 2)"


@pytest.mark.anyio
async def test_async_tool_with_context_and_nested_models() -> None:
    """Async tools get the context and model instances for nested-model parameters."""

    @tool
    async def shift(ctx: RunContext[int], point: Point) -> Point:
        return Point(x=point.x + ctx.deps, y=point.y)

    args = shift.validate_args('{"point": {"x": 1, "y": 2}}')
    assert await shift.run(make_ctx(10), args) == Point(x=11, y=2)


@pytest.mark.anyio
async def test_context_required_when_the_tool_takes_one() -> None:
    """run(None, ...) on a tool that takes a context is a programming error, clearly worded."""
    with pytest.raises(UserError) as info:
        await greet.run(None, {"name": "Ann"})
    assert str(info.value) == (
        "tool 'greet' takes a RunContext but run() got ctx=None; pass the run's context"
    )


@pytest.mark.anyio
async def test_model_retry_and_errors_propagate_from_run() -> None:
    """Exceptions raised by the tool (ModelRetry included) propagate out of run()."""

    @tool
    def picky(n: int) -> int:
        if n < 0:
            raise ModelRetry("n must be positive; try again with n >= 0")
        raise KeyError(n)

    with pytest.raises(ModelRetry, match="n must be positive"):
        await picky.run(None, {"n": -1})
    with pytest.raises(KeyError):
        await picky.run(None, {"n": 1})


def test_run_context_defaults() -> None:
    """RunContext has the documented fields and defaults."""
    ctx = RunContext(deps="d", usage=Usage())
    assert (ctx.messages, ctx.tool_call_id, ctx.tool_name, ctx.retry, ctx.turn, ctx.model) == (
        [],
        None,
        None,
        0,
        0,
        None,
    )


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class Reading:
    city: str
    when: datetime.date


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        ("", ""),
        (None, "null"),
        (42, "42"),
        (True, "true"),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        ([Point(x=1)], '[{"x":1,"y":0}]'),
        (Point(x=1, y=2), '{"x":1,"y":2}'),
        (Reading("Oslo", datetime.date(2026, 1, 2)), '{"city":"Oslo","when":"2026-01-02"}'),
        (Opaque(), '"opaque!"'),
    ],
    ids=lambda v: type(v).__name__,
)
def test_tool_result_content_text(value: Any, text: str) -> None:
    """Strings pass through; everything else becomes compact JSON (None is ``null``)."""
    assert tool_result_content(value) == (text, ())


IMG = ImagePart.from_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 8)


def test_tool_result_content_images() -> None:
    """Images are taken out of the result; the text says they follow."""
    assert tool_result_content(IMG) == (
        "[The tool returned an image; see the next message.]",
        (IMG,),
    )
    assert tool_result_content([IMG, IMG]) == (
        "[The tool returned 2 images; see the next message.]",
        (IMG, IMG),
    )
    assert tool_result_content(["A chart:", IMG]) == (
        "A chart:\n[The tool returned an image; see the next message.]",
        (IMG,),
    )
    assert tool_result_content((IMG, {"n": 1})) == (
        '[{"n":1}]\n[The tool returned an image; see the next message.]',
        (IMG,),
    )


# --------------------------------------------------------------------------- by name


def test_tools_by_name_wraps_callables() -> None:
    """Plain callables are wrapped in Tool; Tools are kept as they are; order is kept."""

    def lookup(key: str) -> str:
        return key

    tools = _tools_by_name([get_weather, lookup, echo])
    assert list(tools) == ["get_weather", "lookup", "async-echo"]
    assert tools["get_weather"] is get_weather
    assert isinstance(tools["lookup"], Tool) and tools["lookup"].function is lookup


def test_tools_by_name_duplicate_names() -> None:
    """Two tools with one name raise UserError naming both functions."""

    def get_weather(city: str) -> str:  # same name as the module-level tool
        return city

    with pytest.raises(UserError) as info:
        _tools_by_name([globals()["get_weather"], get_weather])
    assert str(info.value) == (
        "two tools are named 'get_weather': get_weather and "
        "test_tools_by_name_duplicate_names.<locals>.get_weather. "
        "Give one another name with @tool(name=...)"
    )


def test_tools_by_name_rejects_non_callables() -> None:
    """Something that is neither a Tool nor callable is rejected with what to pass."""
    with pytest.raises(UserError) as info:
        _tools_by_name(["get_weather"])  # type: ignore[list-item]
    assert str(info.value) == (
        "'get_weather' is not a tool: pass functions or Tool objects in tools=[...]"
    )


def test_tools_by_name_propagates_definition_errors() -> None:
    """A plain callable that cannot be a tool raises ToolDefinitionError when indexed."""

    def bad(*args: str) -> None: ...

    with pytest.raises(ToolDefinitionError, match="is \\*args; tools take named parameters"):
        _tools_by_name([bad])


def test_generators_are_rejected() -> None:
    """Sync and async generator functions cannot be tools; the error says to return a list."""

    def numbers() -> Iterator[int]:
        yield 1

    async def anumbers() -> AsyncIterator[int]:
        yield 1

    for fn in (numbers, anumbers):
        with pytest.raises(ToolDefinitionError) as info:
            Tool(fn)
        assert str(info.value) == (
            f"tool function {fn.__qualname__} is a generator; a tool returns one value. "
            "Collect the items and return them (e.g. as a list)"
        )


def test_types_local_to_the_defining_function_resolve() -> None:
    """String annotations naming a model local to the decorating function are resolved."""

    class Local(BaseModel):
        n: int

    @tool
    def use(item: Local) -> int:
        return item.n

    assert use.validate_args('{"item": {"n": 3}}') == {"item": Local(n=3)}
