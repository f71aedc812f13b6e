"""Durable runs on DBOS: a run survives ``kill -9``, waits days for an approval, and
spreads over many workers (optional: ``pip install -e '.[durable]'`` in the clone).

A ``DurableAgent`` wraps an ``Agent``; each of its runs is a DBOS workflow, and each
model request and each tool call of the run is a DBOS step::

    from dbos import DBOS
    from agentkit.durable import DurableAgent

    DBOS(config={"name": "shop", "system_database_url": "sqlite:///shop.sqlite"})
    durable = DurableAgent(agent, name="shop")   # before DBOS.launch()
    DBOS.launch()
    result = await durable.run("Refund order 42", workflow_id="refund-42")

- **Resume.** Run again with the same ``workflow_id`` after a crash (or just launch DBOS
  again: it recovers its pending workflows): completed steps are not redone, their
  recorded results are used; the step that was interrupted runs again (at least once).
  A finished ``workflow_id`` returns its recorded result and sends nothing.
- **Parallel tool calls** get their step ids in call order, when the model's answer is
  recorded, so a resumed run replays them identically whatever order they finish in.
- **Idempotency keys.** Inside a durable tool call, ``ctx.idempotency_key`` is
  ``"<workflow id>:<step id>"``: the same on every attempt of that call, different for
  every other call. Pass it to the systems a tool changes.
- **Approvals** wait inside the workflow (DBOS messages), for ``approval_timeout``
  seconds (a week by default); ``await durable.pending(workflow_id)`` lists the calls
  waiting, ``await durable.approve(workflow_id, approvals)`` (from any process) decides
  them. Decisions are checked against the waiting calls (bound to their arguments, fail
  closed) before they are sent; a run whose wait times out ends with ``ApprovalError``.
- **Many workers.** ``await durable.enqueue(prompt, ...)`` puts a run on a DBOS queue;
  every process that launched DBOS on the same Postgres and called
  ``await durable.register_queue(...)`` takes runs from it, each run once.
- **Streaming.** ``run_stream`` is not offered on a durable agent: a durable run may
  resume in another process, where no caller reads its stream. It raises
  ``ConfigurationError`` saying so; read the result with ``run()`` or ``result()``.

Usage limits, hooks and tracing given to the wrapped agent apply inside the workflow; the
usage of a run adds up across crashes (recorded responses count again) and across
approval waits.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from agentkit._errors import AgentkitError, ApprovalError, ConfigurationError, UserError
from agentkit._run import Prompt, user_message
from agentkit.agent import Agent
from agentkit.approval import ApprovalRequest, Approvals, Decision, Denied, check_approvals
from agentkit.approval._resume import pending_tail
from agentkit.events import RunResult
from agentkit.hooks import Hooks, RequestHandler, RunInfo, ToolHandler, ToolInvocation, ToolResult
from agentkit.messages import Message, ToolCall
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.tools import _bind_idempotency_key
from agentkit.usage import Usage, UsageLimits

if TYPE_CHECKING:
    from dbos._dbos import StepReservation

__all__ = [
    "APPROVAL_TOPIC",
    "DEFAULT_APPROVAL_TIMEOUT",
    "PENDING_EVENT",
    "DurableAgent",
    "DurableHooks",
]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

PENDING_EVENT = "agentkit.approvals_needed"
"""The workflow event listing the calls a run waits for (empty when none)."""
APPROVAL_TOPIC = "agentkit.approvals"
"""The DBOS message topic decisions are sent on."""
DEFAULT_APPROVAL_TIMEOUT = 7 * 24 * 3600.0
"""How long a run waits for decisions by default: a week."""


def _dbos() -> Any:
    try:
        import dbos
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise ConfigurationError(
            "agentkit.durable needs DBOS, which is not installed. Install it with "
            "pip install -e '.[durable]' in the agentkit clone (or pip install dbos)."
        ) from exc
    return dbos


def _in_workflow() -> bool:
    """Inside a DBOS workflow, outside any step (where a new step may start)."""
    ctx = _local_context()()
    return ctx is not None and bool(ctx.is_workflow())


@functools.cache
def _local_context() -> Callable[[], Any]:
    """DBOS's context getter, imported once (it is asked for on every request and call)."""
    from dbos._context import get_local_dbos_context

    return get_local_dbos_context


class DurableHooks(Hooks):
    """Hooks that make each model request and each tool call a DBOS step.

    ``DurableAgent`` adds them to every run it makes; outside a DBOS workflow they pass
    everything through unchanged. One instance serves one run.
    """

    def __init__(self) -> None:
        self._reserved: list[tuple[ToolCall, StepReservation]] = []

    def reserve(self, calls: Sequence[ToolCall]) -> None:
        """Draw one step id per call, in call order (done when the calls are known)."""
        from dbos import DBOS

        self._reserved = [(call, DBOS.reserve_step()) for call in calls]

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send the request as a step (or return the response a past attempt recorded)."""
        if not _in_workflow():
            return await handler(request)
        from dbos import DBOS

        async def step() -> ModelResponse:
            return await handler(request)

        response: ModelResponse = await DBOS.run_step_async(
            {"name": f"agentkit.model_request:{run.model.name}"}, step
        )
        self.reserve(response.message.tool_calls)
        return response

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: ToolHandler
    ) -> ToolResult:
        """Run the call as a step at the id reserved for it (or use its recorded result)."""
        if not _in_workflow():
            return await handler(invocation)
        from dbos import DBOS

        reservation = self._take(invocation.call)
        name = f"agentkit.tool_call:{invocation.call.name}"

        async def step() -> ToolResult:
            key = f"{DBOS.workflow_id}:{DBOS.step_id}"
            with _bind_idempotency_key(key):
                return _recordable(await handler(invocation))

        if reservation is None:
            result: ToolResult = await DBOS.run_step_async({"name": name}, step)
        else:
            result = await reservation.run_async({"name": name}, step)
        return result

    def _take(self, call: ToolCall) -> StepReservation | None:
        for i, (reserved, reservation) in enumerate(self._reserved):
            if reserved is call:
                del self._reserved[i]
                return reservation
        for i, (reserved, reservation) in enumerate(self._reserved):
            if reserved.id and reserved.id == call.id and reserved.name == call.name:
                del self._reserved[i]
                return reservation
        return None


_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})
"""Types that always pickle: a result holding one is recorded without trying."""


def _recordable(result: ToolResult) -> ToolResult:
    """The result as a step records it: the tool's return value only if it pickles."""
    import pickle

    if result.error is None and type(result.value) in _PLAIN:
        return result
    try:
        pickle.dumps((result.value, result.error))
    except Exception:  # an unpicklable value or error: keep what the model is sent
        error = None if result.error is None else RuntimeError(str(result.error))
        return replace(result, value=None, error=error)
    return result


@dataclass(frozen=True, slots=True)
class _RunInput:
    """What a run's workflow is started with (recorded by DBOS as the workflow's input)."""

    prompt: Any
    message_history: list[Message] | None
    deps: Any
    usage_limits: UsageLimits | None


class DurableAgent(Generic[DepsT, OutputT]):
    """An ``Agent`` whose runs are DBOS workflows (see the module docs).

    Create it after ``DBOS(config=...)`` and before ``DBOS.launch()``; ``name`` names its
    workflow (unique per application; the agent's name by default). A run waits at most
    ``approval_timeout`` seconds for decisions.
    """

    def __init__(
        self,
        agent: Agent[DepsT, OutputT],
        *,
        name: str | None = None,
        approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT,
    ) -> None:
        dbos = _dbos()
        self.agent = agent
        self.name = name or agent.name
        self.approval_timeout = approval_timeout
        self._queue: str | None = None
        body = self._workflow_body

        async def agentkit_run(run_input: _RunInput) -> RunResult[Any]:
            return await body(run_input)

        self._workflow: Callable[[_RunInput], Any] = dbos.DBOS.workflow(
            name=f"agentkit.run:{self.name}"
        )(agentkit_run)

    # -- running ------------------------------------------------------------------------

    async def run(
        self,
        prompt: Prompt | None = None,
        *,
        workflow_id: str | None = None,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
    ) -> RunResult[OutputT]:
        """Run (or resume, or read back) the workflow ``workflow_id`` and return its result.

        A run that waits for approval keeps waiting here until someone calls
        ``approve()``; use ``start()`` to get the id back at once instead."""
        handle = await self._start(workflow_id, prompt, message_history, deps, usage_limits)
        result: RunResult[OutputT] = await _result_of(handle)
        return result

    async def start(
        self,
        prompt: Prompt | None = None,
        *,
        workflow_id: str | None = None,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
    ) -> str:
        """Start the run in the background (or attach to the one with this id); its id."""
        handle = await self._start(workflow_id, prompt, message_history, deps, usage_limits)
        workflow: str = handle.get_workflow_id()
        return workflow

    async def _start(
        self,
        workflow_id: str | None,
        prompt: Prompt | None,
        message_history: Sequence[Message] | None,
        deps: Any,
        usage_limits: UsageLimits | None,
    ) -> Any:
        from dbos import DBOS, SetWorkflowID

        run_input = self._input(prompt, message_history, deps, usage_limits)
        with SetWorkflowID(workflow_id or str(uuid.uuid4())):
            return await DBOS.start_workflow_async(self._workflow, run_input)

    async def enqueue(
        self,
        prompt: Prompt | None = None,
        *,
        workflow_id: str | None = None,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        usage_limits: UsageLimits | None = None,
        queue: str | None = None,
    ) -> str:
        """Put the run on a DBOS queue (``register_queue()``'s, unless ``queue`` names
        another); any worker listening to it runs it once. Returns the workflow id."""
        from dbos import DBOS, SetWorkflowID

        name = queue or self._queue
        if name is None:
            raise UserError(
                f"DurableAgent {self.name!r} has no queue: call await "
                "durable.register_queue('name') after DBOS.launch(), or pass queue=..."
            )
        workflow_id = workflow_id or str(uuid.uuid4())
        run_input = self._input(prompt, message_history, deps, usage_limits)
        with SetWorkflowID(workflow_id):
            await DBOS.enqueue_workflow_async(name, self._workflow, run_input)
        return workflow_id

    async def register_queue(
        self,
        name: str = "agentkit",
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
    ) -> None:
        """Declare the queue ``enqueue()`` uses (after ``DBOS.launch()``) and take runs
        from it in this process: at most ``worker_concurrency`` at once here, at most
        ``global_concurrency`` over all workers."""
        from dbos import DBOS

        await DBOS.register_queue_async(
            name,
            worker_concurrency=worker_concurrency,
            global_concurrency=global_concurrency,
            polling_interval_sec=0.1,
        )
        self._queue = name

    async def result(self, workflow_id: str) -> RunResult[OutputT]:
        """Wait for the run ``workflow_id`` to end; its result (or the error that ended it)."""
        from dbos import DBOS

        result: RunResult[OutputT] = await _result_of(
            await DBOS.retrieve_workflow_async(workflow_id)
        )
        return result

    def run_stream(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered: a durable run may resume in another process, where no caller
        reads its stream. Raises ``ConfigurationError``."""
        raise ConfigurationError(
            "DurableAgent has no run_stream(): a durable run may be resumed by another "
            "process after a crash, where no caller reads its events, so streaming is not "
            "part of its record. Use await durable.run(...) for the result, or "
            "agent.run_stream(...) on the plain Agent for a run that need not survive a crash."
        )

    # -- approvals ----------------------------------------------------------------------

    async def pending(
        self, workflow_id: str, *, wait_seconds: float = 0.0
    ) -> tuple[ApprovalRequest, ...]:
        """The calls run ``workflow_id`` waits for a decision on (waiting up to
        ``wait_seconds`` for it to pause); empty when it waits for none."""
        from dbos import DBOS

        value = await DBOS.get_event_async(workflow_id, PENDING_EVENT, timeout_seconds=wait_seconds)
        if not value:
            return ()
        return tuple(_decode_request(item) for item in value)

    async def approve(self, workflow_id: str, approvals: Approvals) -> None:
        """Decide the calls run ``workflow_id`` waits for (from any process).

        Keys are ``ApprovalRequest`` objects (bound to the arguments) or tool-call ids;
        values ``True``, ``False`` or ``Denied(reason)``. Raises ``ApprovalError`` (and
        sends nothing) when a key is not a waiting call or a request's arguments differ.
        """
        from dbos import DBOS

        waiting = {r.key: r for r in await self.pending(workflow_id)}
        decisions: list[tuple[Any, Any]] = []
        for key, decision in approvals.items():
            call_id = key.key if isinstance(key, ApprovalRequest) else key
            if not isinstance(call_id, str) or call_id not in waiting:
                known = ", ".join(repr(i) for i in waiting) or "(none)"
                raise ApprovalError(
                    f"run {workflow_id!r} is not waiting for a decision on {key!r} (waiting: "
                    f"{known}). Nothing was sent: decide only the calls durable.pending() lists."
                )
            if isinstance(key, ApprovalRequest) and key != waiting[call_id]:
                raise ApprovalError(
                    f"the approval for call {call_id!r} is for other arguments "
                    f"({key.arguments}) than the call waiting ({waiting[call_id].arguments}). "
                    "Nothing was sent."
                )
            if not isinstance(decision, bool | Denied):
                raise ApprovalError(
                    f"the decision for {call_id!r} is {decision!r}; decide with True, False "
                    'or Denied("reason").'
                )
            encoded_key = _encode_request(key) if isinstance(key, ApprovalRequest) else key
            encoded = decision.reason if isinstance(decision, Denied) else decision
            decisions.append((encoded_key, encoded))
        await DBOS.send_async(workflow_id, decisions, topic=APPROVAL_TOPIC)

    # -- the workflow -------------------------------------------------------------------

    def _input(
        self,
        prompt: Prompt | None,
        message_history: Sequence[Message] | None,
        deps: Any,
        usage_limits: UsageLimits | None,
    ) -> _RunInput:
        user = None if prompt is None else user_message(prompt)
        history = None if message_history is None else list(message_history)
        return _RunInput(user, history, deps, usage_limits)

    async def _workflow_body(self, run_input: _RunInput) -> RunResult[Any]:
        """One durable run, its errors recorded so that they can be rebuilt."""
        try:
            return await self._durable_run(run_input)
        except AgentkitError as exc:
            raise _RecordedError(type(exc), exc.args, dict(exc.__dict__)) from None

    async def _durable_run(self, run_input: _RunInput) -> RunResult[Any]:
        """The agent's run, and after each pause the wait for decisions and the resumed
        run, all inside the workflow."""
        from dbos import DBOS

        prompt = run_input.prompt
        history = run_input.message_history
        approvals: dict[Any, Decision] | None = None
        total: Usage | None = None  # the logical run's usage: its limits span every wait
        start_index: int | None = None
        while True:
            hooks = DurableHooks()
            if approvals is not None and history is not None:
                tail = pending_tail(history)
                if tail is not None:
                    hooks.reserve(tail[1].tool_calls)
            result = await self.agent.run(
                prompt,
                message_history=history,
                deps=run_input.deps,
                hooks=[hooks],
                usage_limits=run_input.usage_limits,
                approvals=approvals,
                usage=total,
            )
            total = result.usage
            if start_index is None:
                start_index = result.new_message_index
            if not result.approvals_needed:
                result.new_message_index = start_index
                return result
            await DBOS.set_event_async(
                PENDING_EVENT, [_encode_request(r) for r in result.approvals_needed]
            )
            approvals = await self._wait_for_decisions(result.messages)
            await DBOS.set_event_async(PENDING_EVENT, [])
            prompt, history = None, result.messages

    async def _wait_for_decisions(self, messages: list[Message]) -> dict[Any, Decision]:
        from dbos import DBOS

        while True:
            message = await DBOS.recv_async(APPROVAL_TOPIC, timeout_seconds=self.approval_timeout)
            if message is None:
                error = ApprovalError(
                    f"No decision came for the calls this run waited for within "
                    f"approval_timeout={self.approval_timeout} seconds, so none of them ran "
                    "(fail closed). Resume from error.messages with agent.run(approvals=...), "
                    "or raise approval_timeout."
                )
                error.messages = list(messages)
                raise error
            decisions = _decode_decisions(message)
            try:
                check_approvals(messages, decisions)
            except ApprovalError:  # approve() checks first; a stray message is ignored
                continue
            return decisions


class _RecordedError(Exception):
    """An agentkit error as a workflow records it: its class, arguments and attributes.

    Agentkit errors take keyword-only arguments, which pickle (DBOS's serializer) cannot
    pass back when it rebuilds them; ``rebuild()`` restores the error as it was raised.
    """

    def rebuild(self) -> BaseException:
        cls, args, state = self.args
        error: BaseException = cls.__new__(cls)
        error.args = args
        error.__dict__.update(state)
        return error


async def _result_of(handle: Any) -> Any:
    """A workflow handle's result; the agentkit error that ended the run, rebuilt."""
    try:
        return await handle.get_result(polling_interval_sec=0.05)
    except _RecordedError as recorded:
        raise recorded.rebuild() from None


def _encode_request(request: ApprovalRequest) -> list[Any]:
    r = request
    return [r.tool_call_id, r.tool_name, r.arguments, list(r.via), r.agent]


def _decode_request(item: Sequence[Any]) -> ApprovalRequest:
    tool_call_id, tool_name, arguments, *rest = item
    via = tuple(rest[0]) if rest else ()
    agent = rest[1] if len(rest) > 1 else None
    return ApprovalRequest(tool_call_id, tool_name, arguments, via=via, agent=agent)


def _decode_decisions(message: Any) -> dict[Any, Decision]:
    decisions: dict[Any, Decision] = {}
    for key, value in message:
        decoded_key = _decode_request(key) if isinstance(key, list | tuple) else key
        decisions[decoded_key] = value if isinstance(value, bool) else Denied(str(value))
    return decisions
