"""The agent and its loop.

One loop, ``Agent._events``, readable top to bottom. ``run_stream()`` hands its
events to the caller; ``run()`` consumes the same events and returns the result;
``run_sync()`` runs ``run()`` in a fresh event loop.

A turn: build the request -> model -> record usage -> if tool calls: validate the
arguments, run the calls concurrently (sync functions in worker threads), answer
every call in call order -> else validate the output. Mistakes the model can fix
go back to it as messages, within the retry budget; anything else raises an
``AgentkitError`` carrying the conversation so far.

Invariant: ``state.messages`` is always valid to send again. An assistant message
with tool calls is appended together with one answer per call, never alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, overload

import anyio
from typing_extensions import TypeVar

from agentkit._errors import (
    AgentkitError,
    AgentRunError,
    ConfigurationError,
    MaxTurnsExceededError,
    ModelRetry,
    OutputTruncatedError,
    RetriesExhaustedError,
    ToolExecutionError,
    ToolLoopError,
    UserError,
)
from agentkit.events import (
    AgentEvent,
    FinalResultEvent,
    ModelResponseEvent,
    PartialOutputEvent,
    RetryEvent,
    RunResult,
    TextDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
)
from agentkit.messages import (
    AssistantMessage,
    ContentPart,
    ImagePart,
    Message,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import (
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    OutputMode,
    OutputSpec,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from agentkit.output import OUTPUT_TOOL_NAME, OutputSchema, OutputValidationError
from agentkit.tools import RunContext, Tool, ToolArgumentsError, tool_result_content, tools_by_name
from agentkit.usage import Usage

__all__ = ["Agent", "RunStream"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

Prompt = str | Sequence[ContentPart] | UserMessage
"""A user turn: text, a list of text and image parts, or a ready ``UserMessage``."""

_PLAN_CACHE = 16
"""How many models' run plans an agent keeps (per-run models would otherwise pile up)."""

_LOOP_LIMIT = 3
"""The same tool calls this many turns in a row are stopped with feedback."""


@dataclass(slots=True)
class _RunState:
    """Everything a run changes, in one place."""

    messages: list[Message]
    new_message_index: int
    usage: Usage = field(default_factory=Usage)
    turn: int = 0
    failures_in_a_row: int = 0
    attempts: list[str] = field(default_factory=list)
    tool_retries: dict[str, int] = field(default_factory=dict)
    last_calls: tuple[tuple[str, str], ...] = ()
    repeats: int = 0


@dataclass(frozen=True, slots=True)
class _RunPlan:
    """What is static for one (agent, model) pair: built once, reused by every run."""

    model: Model
    mode: OutputMode | None
    tools: tuple[ToolDefinition, ...]
    output_spec: OutputSpec | None
    tool_choice: str | None
    system: SystemMessage | None
    settings: ModelSettings


class Agent(Generic[DepsT, OutputT]):
    """An assistant: a model, instructions, tools and an output type.

    ``model`` is a ``Model``, a model string such as ``"mistral:mistral-small-2506"``
    or ``"opper:mistral/mistral-small-2506"``, or ``None`` for Mistral Small 3.2
    through whichever API key is set. It is resolved at the first run.
    """

    @overload
    def __init__(
        self: Agent[DepsT, OutputT],
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any]] = (),
        output_type: type[OutputT] = ...,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        name: str = "agent",
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[DepsT, Any],
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any]] = (),
        output_type: Any,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        name: str = "agent",
    ) -> None: ...

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any]] = (),
        output_type: Any = str,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        name: str = "agent",
    ) -> None:
        if retries < 0:
            raise ConfigurationError(f"retries must be 0 or more, got {retries}")
        if max_turns < 1:
            raise ConfigurationError(f"max_turns must be 1 or more, got {max_turns}")
        self.name = name
        self.instructions = instructions
        self.retries = retries
        self.max_turns = max_turns
        self.settings = settings or ModelSettings()
        self.raise_tool_errors = raise_tool_errors
        self._model_spec = model
        self._model: Model | None = None
        self._tools = tools_by_name(tools)
        self._output: OutputSchema[OutputT] = OutputSchema(output_type, mode=output_mode)
        if not self._output.is_text and OUTPUT_TOOL_NAME in self._tools:
            raise UserError(
                f"A tool is named {OUTPUT_TOOL_NAME!r}, the name agentkit gives the final-result "
                "tool of a structured output; rename that tool."
            )
        self._validators: list[tuple[Callable[..., Any], bool]] = []
        self._plans: dict[int, _RunPlan] = {}
        """Static request parts per model (by identity), at most ``_PLAN_CACHE`` of them."""
        self._inferred: dict[str, Model] = {}
        """Models built from per-run model strings, reused by later runs."""

    @property
    def tools(self) -> dict[str, Tool[Any]]:
        """The agent's tools by name."""
        return dict(self._tools)

    @property
    def output_type(self) -> Any:
        """The type of ``RunResult.output``."""
        return self._output.output_type

    def output_validator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn(output)`` or ``fn(ctx, output)``; it returns the output (maybe changed)
        or raises ``ModelRetry`` to send feedback to the model. Sync or async."""
        import inspect

        takes_ctx = len(inspect.signature(fn).parameters) >= 2
        self._validators.append((fn, takes_ctx))
        return fn

    # -- public entry points ------------------------------------------------------------

    async def run(
        self,
        prompt: Prompt,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
    ) -> RunResult[OutputT]:
        """Run the agent until it produces an output; return it with the conversation."""
        events = self._events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            stream=False,
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, FinalResultEvent):
                    return event.result
        raise AssertionError("the run ended without a result")  # pragma: no cover

    def run_sync(
        self,
        prompt: Prompt,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
    ) -> RunResult[OutputT]:
        """``run()`` in a new event loop, for code that is not async."""
        call = partial(
            self.run,
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
        )
        return anyio.run(call)

    @asynccontextmanager
    async def run_stream(
        self,
        prompt: Prompt,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
    ) -> AsyncIterator[RunStream[OutputT]]:
        """Run the agent streamed: ``async with agent.run_stream(p) as s: async for e in s``."""
        holder: list[_RunState] = []
        events = self._events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            stream=True,
            state_out=holder,
        )
        async with aclosing(events):
            yield RunStream(events, holder)

    # -- the loop ------------------------------------------------------------------------

    async def _events(
        self,
        prompt: Prompt,
        *,
        message_history: Sequence[Message] | None,
        deps: DepsT,
        settings: ModelSettings | None,
        model: Model | str | None,
        stream: bool,
        state_out: list[_RunState] | None = None,
    ) -> AsyncGenerator[AgentEvent, None]:
        plan = self._plan(model)
        history = list(message_history or ())
        state = _RunState(messages=history, new_message_index=len(history))
        if state_out is not None:
            state_out.append(state)
        user = prompt if isinstance(prompt, UserMessage) else _user_message(prompt)
        self._check_vision(plan, user)
        if not history and plan.system is not None:
            state.messages.append(plan.system)
        state.messages.append(user)
        run_settings = plan.settings.merged(settings)

        try:
            while True:
                if state.turn >= self.max_turns:
                    raise MaxTurnsExceededError(
                        f"The run reached max_turns={self.max_turns} model requests without "
                        "a final output. Raise max_turns, or check why the model keeps "
                        "calling tools.",
                        messages=state.messages,
                    )
                state.turn += 1
                request = ModelRequest(
                    messages=list(state.messages),  # a snapshot: the model may keep it
                    tools=plan.tools,
                    output=plan.output_spec,
                    tool_choice=_answer_now(plan)
                    if state.repeats == _LOOP_LIMIT
                    else plan.tool_choice,
                    settings=run_settings,
                )
                if stream:
                    response = None
                    async for ev in self._stream_request(plan, request):
                        if isinstance(ev, ModelResponse):
                            response = ev
                        else:
                            yield ev
                    assert response is not None, "the model's stream ended without a response"
                else:
                    response = await plan.model.request(request)
                state.usage.add(response.usage)
                yield ModelResponseEvent(response)
                message = response.message

                if response.finish_reason in ("length", "model_length"):
                    cap = run_settings.max_tokens or plan.model.profile.max_output_tokens
                    feedback = (
                        "The model's output was cut off "
                        f"(finish_reason={response.finish_reason!r}) at max_tokens={cap}."
                    )
                    yield self._fail(state, feedback, truncated=True)
                    continue

                if message.tool_calls:
                    outcome = await self._run_tools(plan, state, message, deps)
                    state.messages.append(message)
                    state.messages.extend(outcome.answers)
                    for answer, call in zip(outcome.answers, message.tool_calls, strict=True):
                        yield ToolCallFinishedEvent(
                            tool_call_id=call.id,
                            name=call.name,
                            arguments=call.arguments,
                            content=answer.content,
                            is_error=answer.is_error,
                        )
                    if outcome.has_output:
                        yield FinalResultEvent(self._result(state, outcome.output))
                        return
                    if outcome.failures:
                        yield self._fail(state, "\n".join(outcome.failures))
                    else:
                        state.failures_in_a_row = 0
                        state.attempts.clear()
                    continue

                state.messages.append(message)
                try:
                    output = await self._validate_text_output(plan, state, message, deps)
                except OutputValidationError as exc:
                    feedback = str(exc)
                    state.messages.append(UserMessage(content=feedback))
                    yield self._fail(state, feedback)
                    continue
                yield FinalResultEvent(self._result(state, output))
                return
        except AgentkitError as exc:
            if exc.messages is None:
                exc.messages = list(state.messages)
            raise

    def _fail(self, state: _RunState, reason: str, *, truncated: bool = False) -> RetryEvent:
        """Count a fixable failure; raise when the retry budget is spent."""
        state.failures_in_a_row += 1
        state.attempts.append(reason)
        if state.failures_in_a_row > self.retries:
            error_type = OutputTruncatedError if truncated else RetriesExhaustedError
            raise error_type(
                f"The model failed {state.failures_in_a_row} times in a row "
                f"(retries={self.retries}). "
                f"Last error:\n{reason}\nRaise retries, simplify the tools or output type, or "
                "check the attempts on this error.",
                attempts=state.attempts,
                messages=state.messages,
            )
        return RetryEvent(reason=reason, retries_left=self.retries - state.failures_in_a_row)

    def _result(self, state: _RunState, output: Any) -> RunResult[OutputT]:
        return RunResult(
            output=output,
            messages=state.messages,
            new_message_index=state.new_message_index,
            usage=state.usage,
        )

    async def _stream_request(
        self, plan: _RunPlan, request: ModelRequest
    ) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
        """One streamed model request, translated into run events."""
        started: set[int] = set()
        text_so_far: list[str] = []
        args_so_far: dict[int, list[str]] = {}
        output_call_index: int | None = None
        structured = not self._output.is_text
        last_partial: Any = None
        stream = plan.model.stream(request)
        try:
            async for ev in stream:
                partial_source: str | None = None
                if isinstance(ev, TextDelta):
                    if ev.text:
                        yield TextDeltaEvent(ev.text)
                        if structured and plan.mode != "tool":
                            text_so_far.append(ev.text)
                            partial_source = "".join(text_so_far)
                elif isinstance(ev, ToolCallDelta):
                    if ev.index not in started and ev.name:
                        started.add(ev.index)
                        if ev.name == OUTPUT_TOOL_NAME and plan.mode == "tool":
                            output_call_index = ev.index
                        yield ToolCallStartedEvent(index=ev.index, tool_call_id=ev.id, name=ev.name)
                    if ev.arguments:
                        yield ToolCallArgsDeltaEvent(index=ev.index, delta=ev.arguments)
                        if ev.index == output_call_index:
                            parts = args_so_far.setdefault(ev.index, [])
                            parts.append(ev.arguments)
                            partial_source = "".join(parts)
                else:
                    yield ev
                    continue
                if partial_source is not None:
                    current = self._output.validate_partial(partial_source)
                    if current is not None and current != last_partial:
                        last_partial = current
                        yield PartialOutputEvent(current)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()

    # -- tools ---------------------------------------------------------------------------

    async def _run_tools(
        self, plan: _RunPlan, state: _RunState, message: AssistantMessage, deps: DepsT
    ) -> _ToolOutcome:
        calls = message.tool_calls
        answers: list[ToolMessage | None] = [None] * len(calls)
        outcome = _ToolOutcome()
        failures = outcome.failures
        repeated = self._check_repeats(state, calls)
        conversation = [*state.messages, message]
        runnable: list[tuple[int, ToolCall, Tool[Any], dict[str, Any]]] = []

        for i, call in enumerate(calls):
            if call.name == OUTPUT_TOOL_NAME and plan.mode == "tool":
                answers[i] = await self._output_call(plan, state, call, deps, outcome)
                continue
            tool = self._tools.get(call.name)
            if tool is None:
                known = ", ".join(sorted(self._tools)) or "(none)"
                if plan.mode == "tool":
                    known += f", {OUTPUT_TOOL_NAME}"
                text = f"Unknown tool {call.name!r}. The tools you can call are: {known}."
                answers[i] = _error_answer(call, text)
                failures.append(text)
                continue
            if repeated:
                text = (
                    f"You called {call.name} with the same arguments {_LOOP_LIMIT} turns in a row; "
                    "the result will not change. Use the results you already have, or call a "
                    "different tool or with different arguments."
                )
                answers[i] = _error_answer(call, text)
                failures.append(text)
                continue
            try:
                args = tool.validate_args(call.arguments)
            except ToolArgumentsError as exc:
                text = f"Invalid arguments for tool {call.name}: {exc}"
                answers[i] = _error_answer(call, text)
                failures.append(text)
                self._bump_tool_retry(state, call.name)
                continue
            runnable.append((i, call, tool, args))

        if runnable:
            failed: list[tuple[ToolCall, Exception]] = []

            async def run_one(
                i: int, call: ToolCall, tool: Tool[Any], args: dict[str, Any]
            ) -> None:
                ctx = RunContext(
                    deps=deps,
                    usage=state.usage,
                    messages=conversation,
                    tool_call_id=call.id,
                    tool_name=call.name,
                    retry=state.tool_retries.get(call.name, 0),
                    turn=state.turn,
                    model=plan.model,
                )
                try:
                    value = await tool.run(ctx, args)
                except ModelRetry as retry:
                    answers[i] = _error_answer(call, retry.message)
                    failures.append(f"{call.name}: {retry.message}")
                    self._bump_tool_retry(state, call.name)
                    return
                except Exception as error:
                    answers[i] = _error_answer(call, f"Error: {type(error).__name__}: {error}")
                    if self.raise_tool_errors:
                        failed.append((call, error))
                        tg.cancel_scope.cancel()
                    return
                state.tool_retries.pop(call.name, None)
                content, images = tool_result_content(value)
                answers[i] = ToolMessage(
                    tool_call_id=call.id, name=call.name, content=content, images=images
                )

            async with anyio.create_task_group() as tg:
                for item in runnable:
                    tg.start_soon(run_one, *item)
            if failed:
                failed_call, cause = failed[0]
                done = [
                    a or _error_answer(c, "Not run: another tool call of this turn failed.")
                    for a, c in zip(answers, calls, strict=True)
                ]
                raise ToolExecutionError(
                    f"Tool {failed_call.name!r} raised {type(cause).__name__}: {cause}",
                    tool_name=failed_call.name,
                    tool_call_id=failed_call.id,
                    messages=[*conversation, *done],
                ) from cause

        outcome.answers = [a for a in answers if a is not None]
        return outcome

    async def _output_call(
        self,
        plan: _RunPlan,
        state: _RunState,
        call: ToolCall,
        deps: DepsT,
        outcome: _ToolOutcome,
    ) -> ToolMessage:
        """Answer a final-result tool call; on success record the output in ``outcome``."""
        if outcome.has_output:
            return ToolMessage(
                tool_call_id=call.id,
                name=call.name,
                content="Ignored: a final result was already given in this turn.",
            )
        try:
            value = self._output.validate_arguments(call.arguments)
            value = await self._apply_validators(plan, state, value, deps)
        except OutputValidationError as exc:
            outcome.failures.append(str(exc))
            return _error_answer(call, str(exc))
        outcome.output = value
        outcome.has_output = True
        return ToolMessage(tool_call_id=call.id, name=call.name, content="Final result received.")

    def _bump_tool_retry(self, state: _RunState, name: str) -> None:
        state.tool_retries[name] = state.tool_retries.get(name, 0) + 1

    def _check_repeats(self, state: _RunState, calls: Sequence[ToolCall]) -> bool:
        """Track identical tool-call turns; True when this turn is one too many."""
        signature = tuple((c.name, _normalized_args(c.arguments)) for c in calls)
        if signature == state.last_calls:
            state.repeats += 1
        else:
            state.last_calls = signature
            state.repeats = 1
        if state.repeats > _LOOP_LIMIT:
            names = ", ".join(sorted({c.name for c in calls}))
            raise ToolLoopError(
                f"The model called {names} with the same arguments {state.repeats} turns in a "
                "row, after being told the result will not change. Check the tool's result "
                "and the instructions.",
                messages=state.messages,
            )
        return state.repeats == _LOOP_LIMIT

    # -- output ----------------------------------------------------------------------------

    async def _validate_text_output(
        self, plan: _RunPlan, state: _RunState, message: AssistantMessage, deps: DepsT
    ) -> Any:
        text = message.content or ""
        if self._output.is_text:
            output: Any = text
        elif plan.mode == "tool":
            raise OutputValidationError(
                f"You answered in plain text, but a structured answer is required: call the "
                f"{OUTPUT_TOOL_NAME} tool with the answer as its arguments."
            )
        else:
            output = self._output.validate_text(text)
        return await self._apply_validators(plan, state, output, deps)

    async def _apply_validators(
        self, plan: _RunPlan, state: _RunState, output: Any, deps: DepsT
    ) -> Any:
        for fn, takes_ctx in self._validators:
            ctx = RunContext(
                deps=deps,
                usage=state.usage,
                messages=state.messages,
                turn=state.turn,
                model=plan.model,
            )
            try:
                result = fn(ctx, output) if takes_ctx else fn(output)
                if hasattr(result, "__await__"):
                    result = await result
            except ModelRetry as exc:
                raise OutputValidationError(exc.message) from None
            output = result
        return output

    # -- static per-model plan --------------------------------------------------------------

    def _plan(self, model: Model | str | None) -> _RunPlan:
        resolved = self._resolve_model(model)
        plan = self._plans.get(id(resolved))
        if plan is not None and plan.model is resolved:
            return plan
        profile = resolved.profile
        tools = [t.definition for t in self._tools.values()]
        mode: OutputMode | None = None
        spec: OutputSpec | None = None
        tool_choice = None
        instructions = self.instructions
        if not self._output.is_text:
            mode = self._output.resolve_mode(profile)
            mode_plan = self._output.plan(mode)
            spec = mode_plan.spec
            if mode_plan.tool is not None:
                tools.append(mode_plan.tool)
                tool_choice = "required"
            if mode_plan.instructions is not None:
                instructions = "\n\n".join(filter(None, [instructions, mode_plan.instructions]))
        if tools and not profile.supports_tools:
            raise ConfigurationError(
                f"Model {resolved.name!r} (profile {profile.name!r}) does not support tools, "
                "but this agent has tools. Use a model that supports function calling."
            )
        plan = _RunPlan(
            model=resolved,
            mode=mode,
            tools=tuple(tools),
            output_spec=spec,
            tool_choice=tool_choice,
            system=SystemMessage(content=instructions) if instructions else None,
            settings=self.settings,
        )
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[id(resolved)] = plan
        return plan

    def _resolve_model(self, model: Model | str | None) -> Model:
        if isinstance(model, str):
            inferred = self._inferred.get(model)
            if inferred is None:
                inferred = self._inferred[model] = _infer(model)
            return inferred
        if model is not None:
            return model
        if self._model is None:
            spec = self._model_spec
            self._model = spec if spec is not None and not isinstance(spec, str) else _infer(spec)
        return self._model

    def _check_vision(self, plan: _RunPlan, user: UserMessage) -> None:
        if isinstance(user.content, str) or plan.model.profile.supports_vision:
            return
        if any(isinstance(p, ImagePart) for p in user.content):
            raise ConfigurationError(
                f"The prompt has an image, but model {plan.model.name!r} (profile "
                f"{plan.model.profile.name!r}) has no vision. Use a vision model such as "
                "mistral-small-2506, or send text only."
            )


@dataclass(slots=True)
class _ToolOutcome:
    answers: list[ToolMessage] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    has_output: bool = False
    output: Any = None


class RunStream(Generic[OutputT]):
    """A streamed run: iterate it for events; ``result`` is set when the run is done."""

    def __init__(self, events: AsyncGenerator[AgentEvent, None], holder: list[_RunState]) -> None:
        self._events = events
        self._holder = holder
        self._result: RunResult[OutputT] | None = None

    def __aiter__(self) -> AsyncIterator[AgentEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[AgentEvent]:
        async for event in self._events:
            if isinstance(event, FinalResultEvent):
                self._result = event.result
            yield event

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's result; an error if the stream was not consumed to the end."""
        if self._result is None:
            raise AgentRunError(
                "The stream has no result yet: iterate it to the end (async for event in stream)."
            )
        return self._result

    @property
    def messages(self) -> list[Message]:
        """The conversation so far; always valid to send again, also after a cancel."""
        return list(self._holder[0].messages) if self._holder else []


def _answer_now(plan: _RunPlan) -> str:
    """The tool choice after a stopped loop: the final-result tool, or no tools at all."""
    return OUTPUT_TOOL_NAME if plan.mode == "tool" else "none"


def _infer(spec: str | None) -> Model:
    from agentkit.models.infer import infer_model

    return infer_model(spec)


def _user_message(prompt: str | Sequence[ContentPart]) -> UserMessage:
    if isinstance(prompt, str):
        return UserMessage(content=prompt)
    return UserMessage(content=tuple(prompt))


def _error_answer(call: ToolCall, text: str) -> ToolMessage:
    return ToolMessage(tool_call_id=call.id, name=call.name, content=text, is_error=True)


def _normalized_args(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except ValueError:
        return arguments
