"""Plain Python functions as tools: ``@tool``, ``Tool`` and ``RunContext``.

::

    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        '''Current weather in a city.

        Args:
            city: The city name, e.g. "Paris".
            unit: Temperature unit.
        '''
        ...

    get_weather("Paris")            # still the plain function
    get_weather.definition          # name, description, JSON schema: what the model sees

A first parameter annotated ``RunContext[Deps]`` receives the run's context (deps, usage,
messages...) and is not part of the schema. Sync functions run in a worker thread, async
ones on the event loop. Everything static (schema, validator, definition) is computed
once, when the tool is made; a bad definition raises ``ToolDefinitionError`` right there.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Protocol,
    TypeVar,
    overload,
    runtime_checkable,
)

import pydantic_core
from pydantic import ValidationError

from agentkit._errors import ToolDefinitionError, UserError
from agentkit.messages import AudioPart, DocumentPart, ImagePart, MediaPart, Message, PausedRun
from agentkit.usage import Usage

__all__ = [
    "TOOL_NAME_PATTERN",
    "ResumedRun",
    "RunContext",
    "Tool",
    "ToolArgumentsError",
    "ToolDefinition",
    "Toolset",
    "tool",
    "tool_result_content",
]

DepsT = TypeVar("DepsT")
FuncT = TypeVar("FuncT", bound=Callable[..., Any])

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""Tool names every server accepts (Mistral's rule, the strictest)."""


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as the model sees it: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ResumedRun:
    """A paused agent-as-tool run that a call resumes (see ``Agent.as_tool``): the run
    as it paused, and the decisions for its waiting calls, keyed relative to it."""

    paused: PausedRun
    approvals: Mapping[Any, Any]


@dataclass(slots=True)
class RunContext(Generic[DepsT]):
    """What a tool (or output validator) knows about the run that called it.

    The loop creates one per tool call. Annotate a tool's first parameter with it
    (``ctx: RunContext[MyDeps]``) to receive it; it is never part of the tool's schema.
    """

    __agentkit_run_context__: ClassVar[bool] = True

    deps: DepsT
    """The dependencies passed to ``agent.run(..., deps=...)``."""
    usage: Usage
    """Usage of the run so far."""
    messages: list[Message] = field(default_factory=list)
    """The conversation so far, up to and including the assistant message with this call."""
    tool_call_id: str | None = None
    """The id of the tool call being answered (``None`` outside a tool call)."""
    tool_name: str | None = None
    """The name of the tool being called (``None`` outside a tool call)."""
    retry: int = 0
    """How many times in a row this tool failed (bad arguments or ``ModelRetry``) before."""
    turn: int = 0
    """The number of the current model request in the run, from 1."""
    model: Any = None
    """The model driving the run."""
    emit: Callable[[Any], Awaitable[None]] | None = None
    """Sends a run event into the run's stream (set for tools with ``emits_events``)."""
    streaming: bool = False
    """Whether the run's model requests stream (a nested run can follow suit)."""
    resumed: ResumedRun | None = None
    """Set when this call resumes a paused agent-as-tool run (``Agent.as_tool``)."""
    _run: Any = field(default=None, repr=False, compare=False)
    """The run this context belongs to (agentkit's own: an agent used as a tool runs
    as part of it)."""
    _key: str | None = field(default=None, repr=False, compare=False)
    """This call's idempotency key, when the run derives it (a nested run's call)."""

    @property
    def idempotency_key(self) -> str | None:
        """A key naming this tool call in a durable run (``"<workflow id>:<step id>"``), the
        same on every attempt of the call: pass it to the systems the tool changes. A call
        of an agent used as a tool extends the key of the call it runs under with its own
        turn and place (``"<workflow id>:<step id>/<turn>.<index>"``), at every depth; it
        is the same on a retry of the outer call when the nested model answers the same
        way (a nested run's requests are not durable steps of their own). ``None`` outside
        a durable run (see ``agentkit.durable``)."""
        return self._key if self._key is not None else _IDEMPOTENCY_KEY.get()


_IDEMPOTENCY_KEY: ContextVar[str | None] = ContextVar("agentkit_idempotency_key", default=None)


@contextmanager
def _bind_idempotency_key(key: str) -> Iterator[None]:
    """Inside the block, ``RunContext.idempotency_key`` is ``key`` (set by durable runs)."""
    token = _IDEMPOTENCY_KEY.set(key)
    try:
        yield
    finally:
        _IDEMPOTENCY_KEY.reset(token)


class ToolArgumentsError(Exception):
    """The model's arguments for a tool are not valid JSON or fail validation.

    ``str(error)`` is written for the model: what is wrong, field by field, and what to do.
    """


class Tool(Generic[FuncT]):
    """A function the model can call, with its name, description and JSON schema.

    ``Tool(fn)`` (or ``@tool``) reads the signature and docstring once; calling the
    ``Tool`` calls the plain function. ``strict`` asks servers that support it to
    constrain the arguments to the schema (``None`` leaves the choice to the model
    profile). ``needs_approval`` pauses the run before the tool runs, until a person
    decides (``True``, or a callable ``(ctx, args) -> bool`` deciding per call; see
    ``agentkit.approval``).
    """

    function: FuncT
    """The plain function."""
    name: str
    description: str
    parameters: dict[str, Any]
    """The JSON schema of the arguments (``type: object``)."""
    strict: bool | None
    takes_ctx: bool
    """Whether the first parameter is the ``RunContext``."""
    is_async: bool
    emits_events: bool = False
    """Whether the tool sends run events of its own (``RunContext.emit``), as an agent
    used as a tool does; the loop relays them into the run's stream while it runs."""
    needs_approval: bool | Callable[[RunContext[Any], dict[str, Any]], bool] = False
    """Whether a call waits for a person's decision before it runs (or a callable
    ``(ctx, args) -> bool`` deciding per call, given the validated arguments)."""
    __name__: str
    """The function's name (``functools.update_wrapper`` copies it, with ``__doc__``)."""

    def __init__(
        self,
        function: FuncT,
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool | None = None,
        needs_approval: bool | Callable[[RunContext[Any], dict[str, Any]], bool] = False,
    ) -> None:
        if isinstance(function, Tool):
            raise ToolDefinitionError(
                f"{function.name!r} is already a Tool; pass its .function to re-wrap it with "
                "other options"
            )
        tool_name = name if name is not None else getattr(function, "__name__", None)
        if not isinstance(tool_name, str) or not TOOL_NAME_PATTERN.match(tool_name):
            raise ToolDefinitionError(
                f"tool name {tool_name!r} (function {_callable_name(function)}) is invalid: "
                "names must be 1 to 64 letters, digits, '_' or '-'. Pass name='...' to choose one"
            )
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise ToolDefinitionError(
                f"tool function {_callable_name(function)} is a generator; a tool returns one "
                "value. Collect the items and return them (e.g. as a list)"
            )
        from agentkit.schema import function_schema  # with the first tool: not at import

        schema = function_schema(function, name=tool_name, description=description)
        self.function = function
        self.name = tool_name
        self.description = schema.description
        self.parameters = schema.parameters
        self.strict = strict
        self.needs_approval = needs_approval
        self.takes_ctx = schema.takes_ctx
        self.is_async = _is_async_callable(function)
        self._schema = schema
        self._definition = ToolDefinition(
            name=tool_name,
            description=schema.description,
            parameters=schema.parameters,
            strict=strict,
        )
        functools.update_wrapper(self, function)

    @property
    def definition(self) -> ToolDefinition:
        """The tool as the model sees it (built once)."""
        return self._definition

    if TYPE_CHECKING:
        __call__: FuncT
    else:

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            """Call the plain function (an async one returns its coroutine)."""
            return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, function={_callable_name(self.function)})"

    def validate_args(self, arguments: str | bytes) -> dict[str, Any]:
        """Validate the model's JSON arguments into typed keyword arguments.

        An empty string counts as ``{}`` (some servers send it for tools without
        parameters). Raises ``ToolArgumentsError`` with a model-facing message.
        """
        if not arguments or not arguments.strip():
            arguments = "{}"
        try:
            return self._schema.validate_json(arguments)
        except ValidationError as e:
            raise ToolArgumentsError(_arguments_message(e)) from None

    async def run(self, ctx: RunContext[Any] | None, args: dict[str, Any]) -> Any:
        """Call the function with validated ``args`` (and ``ctx`` first if it takes one).

        Async functions are awaited; sync ones run in a worker thread. Cancelling the
        run does not wait for a sync tool: the run ends at once and the thread is
        abandoned, running on until the function returns (Python cannot stop a thread),
        its result discarded. Make a sync tool that may block for long take a timeout.
        """
        fn: Callable[..., Any] = self.function
        if self.takes_ctx:
            if ctx is None:
                raise UserError(
                    f"tool {self.name!r} takes a RunContext but run() got ctx=None; "
                    "pass the run's context"
                )
            if self.is_async:
                return await fn(ctx, **args)
            import anyio.to_thread  # a sync tool's first call loads it (import agentkit does not)

            return await anyio.to_thread.run_sync(
                functools.partial(fn, ctx, **args), abandon_on_cancel=True
            )
        if self.is_async:
            return await fn(**args)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, **args), abandon_on_cancel=True)


def _arguments_message(e: ValidationError) -> str:
    errors = e.errors(include_url=False, include_context=False, include_input=False)
    if len(errors) == 1 and errors[0]["type"] == "json_invalid":
        reason = errors[0]["msg"].removeprefix("Invalid JSON: ")
        return (
            f"the arguments are not valid JSON ({reason}). "
            "Send the arguments as one JSON object matching the tool's parameters."
        )
    if len(errors) == 1 and errors[0]["type"] == "model_type" and not errors[0]["loc"]:
        return (
            "the arguments must be a JSON object with the parameters as keys. "
            "Send one JSON object matching the tool's parameters."
        )
    from agentkit.schema import format_validation_errors

    count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
    return f"{count}:\n{format_validation_errors(e)}\nFix these arguments and call the tool again."


def _callable_name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def _is_async_callable(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


@overload
def tool(function: FuncT, /) -> Tool[FuncT]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    needs_approval: bool | Callable[[RunContext[Any], dict[str, Any]], bool] = False,
) -> Callable[[FuncT], Tool[FuncT]]: ...


def tool(
    function: FuncT | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
    needs_approval: bool | Callable[[RunContext[Any], dict[str, Any]], bool] = False,
) -> Tool[FuncT] | Callable[[FuncT], Tool[FuncT]]:
    """Make a function a tool: ``@tool`` or ``@tool(name=..., description=..., strict=...,
    needs_approval=...)``.

    Works on sync and async functions; the result is a ``Tool`` that is still callable
    as the plain function. Raises ``ToolDefinitionError`` if the function cannot be a tool.
    """
    if function is None:

        def decorate(fn: FuncT) -> Tool[FuncT]:
            return Tool(
                fn,
                name=name,
                description=description,
                strict=strict,
                needs_approval=needs_approval,
            )

        return decorate
    return Tool(
        function, name=name, description=description, strict=strict, needs_approval=needs_approval
    )


def _tools_by_name(tools: Sequence[Tool[Any] | Callable[..., Any]]) -> dict[str, Tool[Any]]:
    """Index tools by name, wrapping plain callables in ``Tool``.

    Raises ``UserError`` naming both functions when two tools share a name.
    """
    result: dict[str, Tool[Any]] = {}
    for item in tools:
        if isinstance(item, Tool):
            t: Tool[Any] = item
        elif callable(item):
            t = Tool(item)
        else:
            raise UserError(
                f"{item!r} is not a tool: pass functions or Tool objects in tools=[...]"
            )
        other = result.get(t.name)
        if other is not None:
            raise UserError(
                f"two tools are named {t.name!r}: {_callable_name(other.function)} and "
                f"{_callable_name(t.function)}. Give one another name with @tool(name=...)"
            )
        result[t.name] = t
    return result


@runtime_checkable
class Toolset(Protocol):
    """Tools known only once connected, such as an MCP server's: pass it in
    ``Agent(tools=[...])`` beside functions.

    A run enters the toolset (``async with``) at its start and exits it at its end,
    so entries must nest (count them); ``list_tools()`` is asked before every model
    request and should return the same sequence object while the tools are unchanged.
    """

    async def __aenter__(self) -> Any:
        """Connect (or count one more user of the connection)."""
        ...

    async def __aexit__(self, *exc_info: Any) -> Any:
        """Count one user less; disconnect after the last."""
        ...

    async def list_tools(self) -> Sequence[Tool[Any]]:
        """The tools as they are now (fetched when they changed, else the same object)."""
        ...


def _split_tools(
    items: Sequence[Tool[Any] | Callable[..., Any] | Toolset],
) -> tuple[dict[str, Tool[Any]], tuple[Toolset, ...]]:
    """The static tools by name (see ``_tools_by_name``) and the toolsets, in order."""
    static: list[Tool[Any] | Callable[..., Any]] = []
    toolsets: list[Toolset] = []
    for item in items:
        if isinstance(item, Toolset) and not isinstance(item, Tool):
            toolsets.append(item)
        else:
            static.append(item)
    return _tools_by_name(static), tuple(toolsets)


def tool_result_content(value: Any) -> tuple[str, tuple[MediaPart, ...]]:
    """How a tool's return value becomes the tool message: text, plus any media.

    A ``str`` is sent as it is; anything else as compact JSON (``None`` is ``null``,
    pydantic models, dataclasses, dicts and lists as their JSON; unknown objects as
    their ``str``). An ``ImagePart``, ``DocumentPart`` or ``AudioPart``, or a list/tuple
    holding some, has them taken out (they go to the model in a message of their own)
    and the text says so.
    """
    if isinstance(value, str):
        return value, ()
    if isinstance(value, _MEDIA):
        return _media_note((value,)), (value,)
    if isinstance(value, list | tuple) and any(isinstance(v, _MEDIA) for v in value):
        media = tuple(v for v in value if isinstance(v, _MEDIA))
        rest = [v for v in value if not isinstance(v, _MEDIA)]
        note = _media_note(media)
        if not rest:
            return note, media
        if all(isinstance(v, str) for v in rest):
            text = "\n".join(rest)
        else:
            text = _to_json(rest)
        return f"{text}\n{note}", media
    return _to_json(value), ()


_MEDIA = (ImagePart, DocumentPart, AudioPart)
_KINDS = (
    (ImagePart, "an image", "images"),
    (DocumentPart, "a document", "documents"),
    (AudioPart, "an audio clip", "audio clips"),
)


def _media_note(media: tuple[MediaPart, ...]) -> str:
    said = []
    for cls, one, many in _KINDS:
        count = sum(isinstance(m, cls) for m in media)
        if count:
            said.append(one if count == 1 else f"{count} {many}")
    return f"[The tool returned {' and '.join(said)}; see the next message.]"


def _to_json(value: Any) -> str:
    try:
        return pydantic_core.to_json(value, fallback=str).decode()
    except pydantic_core.PydanticSerializationError as exc:
        if "surrogates not allowed" not in str(exc):
            raise
        # file names from os.fsdecode of bad bytes: sent with those characters as "?"
        return pydantic_core.to_json(_without_surrogates(value), fallback=str).decode()


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list | tuple | set | frozenset):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value
