"""Hooks: around the run, each model request and each tool call, and every event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from support import model_on, weather_tool

from agentkit import (
    Agent,
    AgentEvent,
    AgentkitError,
    FinalResultEvent,
    Hooks,
    ModelResponseEvent,
    ModelRetry,
    ModelWarningEvent,
    RetryEvent,
    RunInfo,
    TextDeltaEvent,
    ToolCallFinishedEvent,
    ToolInvocation,
    ToolResult,
    UsageLimitExceeded,
    UsageLimits,
    UserError,
    tool,
)
from agentkit.messages import AssistantMessage, ToolMessage, UserMessage
from agentkit.models import ModelRequest, ModelResponse, ModelSettings
from agentkit.models.base import complete
from agentkit.testing import LocalModelServer, ScriptedModel, text, tool_calls
from agentkit.testing import server as srv
from agentkit.usage import Usage

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")

CALLS: list[str] = []
get_weather = weather_tool("Sunny in {city}", calls=CALLS)


class Recorder(Hooks):
    """Records what it sees, in order, tagged with its name."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def wrap_run(self, run: RunInfo) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def scope() -> AsyncIterator[None]:
            self.log.append(f"{self.name}: run starts ({run.agent_name})")
            try:
                yield
            except Exception as exc:
                self.log.append(f"{self.name}: run failed ({type(exc).__name__})")
                raise
            assert run.result is not None
            self.log.append(f"{self.name}: run done ({run.result.output})")

        return scope()

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        self.log.append(f"{self.name}: request {run.turn}")
        response: ModelResponse = await handler(request)
        self.log.append(f"{self.name}: response {response.usage.output_tokens} tokens")
        return response

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        self.log.append(f"{self.name}: tool {invocation.tool.name}({invocation.args})")
        result: ToolResult = await handler(invocation)
        self.log.append(f"{self.name}: tool result {result.content!r}")
        return result


@pytest.mark.anyio
async def test_hooks_wrap_the_run_each_request_and_each_tool_call_in_order() -> None:
    """The agent's hooks come first, then the run's; the first hook is the outermost."""
    log: list[str] = []
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("Sunny.")])
    agent = Agent(model, tools=[get_weather], hooks=[Recorder("a", log)], name="desk")
    result = await agent.run("Weather?", hooks=[Recorder("b", log)])
    assert result.output == "Sunny."
    assert log == [
        "a: run starts (desk)",
        "b: run starts (desk)",
        "a: request 1",
        "b: request 1",
        "b: response 5 tokens",
        "a: response 5 tokens",
        "a: tool get_weather({'city': 'Paris'})",
        "b: tool get_weather({'city': 'Paris'})",
        "b: tool result 'Sunny in Paris'",
        "a: tool result 'Sunny in Paris'",
        "a: request 2",
        "b: request 2",
        "b: response 5 tokens",
        "a: response 5 tokens",
        "b: run done (Sunny.)",
        "a: run done (Sunny.)",
    ]


class CapTokens(Hooks):
    """Changes every request: a lower max_tokens."""

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        return await handler(replace(request, settings=ModelSettings(max_tokens=64)))


@pytest.mark.anyio
async def test_a_request_hook_changes_what_goes_on_the_wire() -> None:
    """A changed request is the one the server receives."""
    with LocalModelServer([srv.reply_text("Hi.")]) as server:
        agent = Agent(model_on(server), hooks=[CapTokens()])
        assert (await agent.run("Hello")).output == "Hi."
        assert server.requests[0].body["max_tokens"] == 64


class Refuse(Hooks):
    """Refuses every model request."""

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        raise AgentkitError("refused by policy")


@pytest.mark.anyio
async def test_a_refused_request_is_never_sent_and_the_error_carries_the_conversation() -> None:
    """A hook that raises ends the run before the request reaches the server."""
    with LocalModelServer([srv.reply_text("Hi.")]) as server:
        agent = Agent(model_on(server), instructions="Be brief.")
        with pytest.raises(AgentkitError, match="refused by policy") as caught:
            await agent.run("Hello", hooks=[Refuse()])
        assert server.requests == []
    assert caught.value.messages is not None
    assert [m.role for m in caught.value.messages] == ["system", "user"]


class AnswerItself(Hooks):
    """Answers every request without the model."""

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        message = AssistantMessage(content="From the hook, not the model.")
        return ModelResponse(message=message, usage=Usage(requests=1), finish_reason="stop")


@pytest.mark.anyio
async def test_a_hook_can_answer_a_request_itself_streamed_or_not() -> None:
    """A hook's own answer is the model's answer; streamed, its text arrives as deltas."""
    with LocalModelServer([]) as server:
        agent = Agent(model_on(server), hooks=[AnswerItself()])
        assert (await agent.run("Hello")).output == "From the hook, not the model."
        async with agent.run_stream("Hello") as stream:
            deltas = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
        assert server.requests == []
    assert len(deltas) > 1
    assert "".join(deltas) == "From the hook, not the model."


@pytest.mark.anyio
async def test_a_streamed_run_through_a_request_hook_still_streams() -> None:
    """With a request hook, the model's deltas still reach the stream as they come."""
    log: list[str] = []
    with LocalModelServer([srv.reply_text("Paris is the sunny capital of France.")]) as server:
        agent = Agent(model_on(server), hooks=[Recorder("h", log)])
        async with agent.run_stream("Paris?") as stream:
            deltas = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
        assert server.requests[0].body["stream"] is True
    assert len(deltas) > 1
    assert "".join(deltas) == "Paris is the sunny capital of France."
    assert "h: request 1" in log and stream.result.output == "".join(deltas)


@pytest.mark.anyio
async def test_a_hook_error_in_a_streamed_run_is_raised_as_itself() -> None:
    """A hook that raises inside a streamed request ends the run with its own error."""
    model = ScriptedModel([text("unused")])
    agent = Agent(model, hooks=[Refuse()])
    with pytest.raises(AgentkitError, match="refused by policy"):
        async with agent.run_stream("Hello") as stream:
            async for _ in stream:
                pass
    assert model.requests == []


class Rewrite(Hooks):
    """Runs every weather call for Lyon instead."""

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        return await handler(replace(invocation, args={"city": "Lyon"}))


@pytest.mark.anyio
async def test_a_tool_hook_sees_the_validated_arguments_and_may_change_them() -> None:
    """The arguments a tool hook passes on are the ones the tool runs with."""
    CALLS.clear()
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("ok")])
    result = await Agent(model, tools=[get_weather], hooks=[Rewrite()]).run("Weather?")
    assert CALLS == ["Lyon"]
    answer = result.messages[-2]
    assert isinstance(answer, ToolMessage) and answer.content == "Sunny in Lyon"


class Deny(Hooks):
    """Answers every tool call itself, without running it."""

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        return ToolResult(f"{invocation.tool.name} is not allowed here.", is_error=True)


class Retry(Hooks):
    """Sends every tool call back to the model with feedback."""

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        raise ModelRetry("Ask for a city in France.")


@pytest.mark.anyio
async def test_a_tool_hook_can_answer_itself_or_send_feedback() -> None:
    """A hook's own result goes to the model and the tool never runs; ModelRetry is feedback."""
    CALLS.clear()
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("ok")])
    result = await Agent(model, tools=[get_weather], hooks=[Deny()]).run("Weather?")
    denied = result.messages[-2]
    assert isinstance(denied, ToolMessage) and denied.is_error
    assert denied.content == "get_weather is not allowed here."

    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("ok")])
    agent = Agent(model, tools=[get_weather], hooks=[Retry()])
    async with agent.run_stream("Weather?") as stream:
        retries = [e for e in await collect(stream) if isinstance(e, RetryEvent)]
    assert CALLS == []
    assert [r.reason for r in retries] == ["get_weather: Ask for a city in France."]


async def collect(stream: Any) -> list[AgentEvent]:
    return [event async for event in stream]


@tool
def broken(city: str) -> str:
    """Always fails."""
    raise ValueError(f"no data for {city}")


@pytest.mark.anyio
async def test_a_tool_hook_sees_the_tools_own_exception_as_an_error_result() -> None:
    """An exception from the tool reaches the hook as an error result carrying it."""
    seen: list[ToolResult] = []

    class Watch(Hooks):
        async def wrap_tool_call(
            self, run: RunInfo, invocation: ToolInvocation, handler: Any
        ) -> Any:
            result: ToolResult = await handler(invocation)
            seen.append(result)
            return result

    model = ScriptedModel([tool_calls(("broken", {"city": "Paris"})), text("sorry")])
    await Agent(model, tools=[broken], hooks=[Watch()]).run("Weather?")
    (result,) = seen
    assert result.is_error and isinstance(result.error, ValueError)
    assert result.content == "Error: ValueError: no data for Paris"


class Explode(Hooks):
    """Fails outside the tool."""

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        raise AgentkitError(f"audit log unavailable for {invocation.call.id}")


@pytest.mark.anyio
async def test_a_tool_hook_that_raises_ends_the_run_before_the_calls_are_answered() -> None:
    """An error raised by a tool hook ends the run; the conversation has no half-answered turn."""
    CALLS.clear()
    model = ScriptedModel(
        [tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}))]
    )
    with pytest.raises(AgentkitError, match="audit log unavailable") as caught:
        await Agent(model, tools=[get_weather], hooks=[Explode()]).run("Weather?")
    assert CALLS == []
    assert caught.value.messages is not None
    assert [m.role for m in caught.value.messages] == ["user"]


@pytest.mark.anyio
async def test_on_event_sees_every_event_of_a_run_in_order() -> None:
    """An event hook sees exactly the events a streamed run yields, in the same order."""
    seen: list[AgentEvent] = []

    class Events(Hooks):
        async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
            seen.append(event)

    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("Sunny today.")])
    agent = Agent(model, tools=[get_weather], hooks=[Events()])
    async with agent.run_stream("Weather?") as stream:
        streamed = [event async for event in stream]
    assert seen == streamed
    assert isinstance(seen[-1], FinalResultEvent)
    assert sum(isinstance(e, ModelResponseEvent) for e in seen) == 2

    seen.clear()
    model = ScriptedModel([text("Hi.")])
    await Agent(model, hooks=[Events()]).run("Hello")
    assert [type(e).__name__ for e in seen] == ["ModelResponseEvent", "FinalResultEvent"]


@pytest.mark.anyio
async def test_wrap_run_sees_the_error_that_ends_a_run() -> None:
    """A run hook's scope exits with the error that ended the run."""
    log: list[str] = []
    model = ScriptedModel([])
    agent = Agent(model, hooks=[Recorder("r", log), Refuse()])
    with pytest.raises(AgentkitError):
        await agent.run("Hello")
    assert log == ["r: run starts (agent)", "r: request 1", "r: run failed (AgentkitError)"]


@pytest.mark.anyio
async def test_each_run_gets_exactly_the_hooks_it_passes_whatever_the_run_before_passed() -> None:
    """Runs passing the same hook objects, others, the same in another order, or a budget
    each run through exactly their own hooks (and their budget)."""
    log: list[str] = []
    a, b = Recorder("a", log), Recorder("b", log)

    def answer(request: ModelRequest) -> Any:
        asked = isinstance(request.messages[-1], UserMessage)
        return tool_calls(("get_weather", {"city": "Paris"})) if asked else text("Sunny.")

    agent = Agent(ScriptedModel([answer] * 20), tools=[get_weather])
    for hooks in ([a], [a], [b], [a, b], [b, a]):
        log.clear()
        assert (await agent.run("Weather?", hooks=hooks)).output == "Sunny."
        assert [line for line in log if "run starts" in line] == [
            f"{h.name}: run starts (agent)" for h in hooks
        ]
    with pytest.raises(UsageLimitExceeded):  # the budget's hook joins the same hooks
        await agent.run("Weather?", hooks=[b, a], usage_limits=UsageLimits(requests=1))
    log.clear()
    assert (await agent.run("Weather?", hooks=[b, a])).output == "Sunny."
    assert log[0] == "b: run starts (agent)" and "a: run done (Sunny.)" in log


def test_hooks_must_be_hooks_instances() -> None:
    """Passing something that is not a Hooks fails at once, saying what to pass."""
    with pytest.raises(TypeError, match=r"subclass agentkit\.Hooks"):
        Agent(ScriptedModel([]), hooks=[object()])  # type: ignore[list-item]


@pytest.mark.anyio
async def test_a_run_without_hooks_and_complete_give_the_same_answer() -> None:
    """complete() is the model's stream consumed: the same response the loop gets."""
    with LocalModelServer([srv.reply_text("Hi."), srv.reply_text("Hi.")]) as server:
        model = model_on(server)
        response = await complete(model, ModelRequest(messages=[]))
        result = await Agent(model).run("Hello")
    assert response.message.content == result.output == "Hi."


# -- a streamed request through hooks runs in the run's own task ---------------------------


class Awaits(Hooks):
    """Waits on the event loop before and after the handler, under a cancel scope."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.lock = anyio.Lock()

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        async with self.lock:
            await anyio.lowlevel.checkpoint()
            with anyio.CancelScope():
                self.log.append("before")
                try:
                    response = await handler(request)
                except BaseException as exc:
                    self.log.append(f"handler raised {type(exc).__name__}")
                    with anyio.CancelScope(shield=True):  # async cleanup, even when cancelled
                        await anyio.sleep(0.01)
                    self.log.append("cleaned up")
                    raise
            await anyio.lowlevel.checkpoint()
            self.log.append("after")
            return response


@pytest.mark.anyio
async def test_a_hook_that_awaits_around_a_streamed_request_sees_it_through() -> None:
    """Locks, sleeps and cancel scopes in a hook work around a streamed request."""
    log: list[str] = []
    with LocalModelServer([srv.reply_text("Paris is the sunny capital of France.")]) as server:
        agent = Agent(model_on(server), hooks=[Awaits(log)])
        async with agent.run_stream("Paris?") as stream:
            deltas = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
    assert "".join(deltas) == "Paris is the sunny capital of France." and len(deltas) > 1
    assert log == ["before", "after"]


@pytest.mark.anyio
async def test_cancelling_a_streamed_request_reaches_the_hook_and_propagates() -> None:
    """A cancel while the model streams goes through the hook (which may clean up with
    awaits) and ends the run as a cancel."""
    log: list[str] = []
    slow = replace(srv.reply_text("one two three four five six seven"), delay=30)
    with LocalModelServer([slow]) as server:
        agent = Agent(model_on(server), hooks=[Awaits(log)])
        with anyio.move_on_after(0.5) as scope:
            async with agent.run_stream("Paris?") as stream:
                async for _ in stream:
                    pass
    assert scope.cancelled_caught
    assert log[0] == "before" and log[-1] == "cleaned up"
    assert log[1].startswith("handler raised")


@pytest.mark.anyio
async def test_leaving_a_stream_early_lets_the_hooks_clean_up() -> None:
    """Closing a stream in the middle of a hooked request unwinds the hook, awaits included."""
    log: list[str] = []
    # ScriptedModel, not HTTP: under trio, httpx2 leaves an inner generator of a response
    # abandoned mid-body to the GC (its own code), which this suite counts as a leak.
    agent = Agent(ScriptedModel(["one two three four five six seven eight"]), hooks=[Awaits(log)])
    async with agent.run_stream("Count") as stream:
        async for event in stream:
            if isinstance(event, TextDeltaEvent):
                break
    assert log == ["before", "handler raised GeneratorExit", "cleaned up"]


@pytest.mark.anyio
async def test_a_cancel_while_the_hooks_unwind_after_an_early_exit_goes_on_out() -> None:
    """A cancel that reaches a hook cleaning up after the stream ended early propagates."""
    from agentkit._run.request import _pass_up, _Step, _unwind

    log: list[str] = []

    async def hook_chain() -> None:
        try:
            await _pass_up("suspended mid-request")
        finally:
            log.append("cleaning up")
            await anyio.sleep_forever()  # an await in the hook's cleanup: the cancel lands

    chain, step = hook_chain(), _Step()
    assert step.advance(chain) == "suspended mid-request"
    with anyio.CancelScope() as scope:
        scope.cancel()
        await _unwind(chain, step)
        log.append("went on after the cancel")
    assert scope.cancelled_caught and log == ["cleaning up"]


class SecondOpinion(Hooks):
    """On a model error, asks again once; counts the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    async def wrap_model_request(self, run: RunInfo, request: ModelRequest, handler: Any) -> Any:
        self.attempts += 1
        try:
            return await handler(request)
        except AgentkitError:
            self.attempts += 1
            return await handler(request)


@pytest.mark.anyio
async def test_a_hook_catches_a_streamed_models_error_and_sends_again() -> None:
    """The model's error reaches the hook as the handler's exception; a second call streams."""
    hook = SecondOpinion()
    replies = [srv.reply_error(400, "bad request"), srv.reply_text("Second try works.")]
    with LocalModelServer(replies) as server:
        agent = Agent(model_on(server), hooks=[hook])
        async with agent.run_stream("Hi") as stream:
            deltas = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
        assert len(server.requests) == 2
    assert hook.attempts == 2
    assert "".join(deltas) == "Second try works."


class Reporter(Hooks):
    """Reports a warning from each tool call and from the final result; can end the run."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    async def wrap_tool_call(self, run: RunInfo, invocation: ToolInvocation, handler: Any) -> Any:
        run.report(ModelWarningEvent(f"tool {invocation.call.name}"))
        if self.fail:
            raise UserError("stop here")
        return await handler(invocation)

    async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
        if isinstance(event, FinalResultEvent):
            run.report(ModelWarningEvent("final"))


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_events_reported_by_tool_hooks_and_on_event_are_given_out(stream: bool) -> None:
    """A tool hook's reports come before the turn's ToolCallFinishedEvent, the final
    result's before the FinalResultEvent, and a report made before an error before the
    error; on_event hooks see each of them, streamed or not."""
    seen: list[str] = []

    class Seen(Hooks):
        async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
            if isinstance(event, ModelWarningEvent | ToolCallFinishedEvent | FinalResultEvent):
                seen.append(getattr(event, "message", type(event).__name__))

    def script() -> ScriptedModel:
        return ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("ok")])

    async def play(agent: Agent[None, str]) -> list[str]:
        if not stream:
            await agent.run("hi", hooks=[Seen()])
            return []
        names: list[str] = []
        async with agent.run_stream("hi", hooks=[Seen()]) as run:
            async for event in run:
                if isinstance(event, ModelWarningEvent | ToolCallFinishedEvent | FinalResultEvent):
                    names.append(getattr(event, "message", type(event).__name__))
        return names

    given = await play(Agent(script(), tools=[get_weather], hooks=[Reporter()]))
    assert seen[:2] == ["tool get_weather", "ToolCallFinishedEvent"]
    assert sorted(seen[2:]) == ["FinalResultEvent", "final"]
    if stream:
        assert given == ["tool get_weather", "ToolCallFinishedEvent", "final", "FinalResultEvent"]
    seen.clear()
    with pytest.raises(UserError, match="stop here"):
        await play(Agent(script(), tools=[get_weather], hooks=[Reporter(fail=True)]))
    assert seen == ["tool get_weather"]


@pytest.mark.anyio
@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_hooks_report_comes_before_its_response_event(stream: bool) -> None:
    """What a request hook reports goes out after the model's answer and before that
    request's ModelResponseEvent, streamed or not, seen by on_event in that order."""
    seen: list[str] = []

    class Asked(Hooks):
        async def wrap_model_request(self, run: RunInfo, request: Any, handler: Any) -> Any:
            response = await handler(request)
            run.report(ModelWarningEvent(f"asked {run.turn}"))
            return response

        async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
            if isinstance(event, ModelWarningEvent | ModelResponseEvent):
                seen.append(getattr(event, "message", type(event).__name__))

    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("ok")])
    agent = Agent(model, tools=[get_weather], hooks=[Asked()])
    if stream:
        async with agent.run_stream("hi") as run:
            async for _ in run:
                pass
    else:
        await agent.run("hi")
    assert seen == ["asked 1", "ModelResponseEvent", "asked 2", "ModelResponseEvent"]
