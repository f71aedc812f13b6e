"""Running a command's turns: ``ChatSession`` runs each one streamed on a background event
loop, so that Ctrl-C cancels the turn and not the command; and the exit statuses."""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agentkit.approval import Approvals, pending_approvals
from agentkit.cli._render import Renderer
from agentkit.events import RunResult
from agentkit.hooks import Hooks
from agentkit.messages import Message
from agentkit.models.base import Model

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.sessions import SQLiteSession

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PAUSED",
    "EXIT_USAGE",
    "ChatSession",
    "portal",
]

EXIT_OK = 0
EXIT_ERROR = 1
"""The run failed (the error is shown)."""
EXIT_USAGE = 2
"""A usage or configuration error: a bad argument, a missing key or package."""
EXIT_PAUSED = 3
"""``agentkit run``: the run paused for approval; the calls that wait did not run."""
EXIT_INTERRUPTED = 130


def portal() -> AbstractContextManager[BlockingPortal]:
    """The event loop (in a background thread) a command runs its turns on."""
    return start_blocking_portal("asyncio")


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Inside the block, Ctrl-C (SIGINT) is noted in the list instead of raising; it
    raises nowhere half-way (between a task being started and its handle kept). Only
    the main thread can; elsewhere the block changes nothing."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous or signal.default_int_handler)


class ChatSession:
    """A conversation with one agent: each ``turn()`` runs streamed and adds to the history.

    Turns run on an event loop in a background thread (an anyio blocking portal),
    so the calling thread stays free to notice Ctrl-C: a ``KeyboardInterrupt``
    while a turn runs cancels that turn, and the history stays as it was before it.
    ``cancel_turn()`` does the same from any thread.
    """

    def __init__(
        self,
        agent: Agent[Any, Any],
        portal: BlockingPortal,
        renderer: Renderer,
        *,
        model: Model | str | None = None,
        hooks: Sequence[Hooks] = (),
        store: SQLiteSession | None = None,
    ) -> None:
        self.agent = agent
        self.store = store
        """Where the conversation is kept (``agentkit chat --session NAME``), if anywhere."""
        self.hooks = tuple(hooks)
        """Hooks every turn runs with (the command's OTLP tracing, when it exports)."""
        self.portal = portal
        self.renderer = renderer
        self.model = model
        self.history: list[Message] = []
        """The conversation so far (every completed turn)."""
        self.last_result: RunResult[Any] | None = None
        self._scope: anyio.CancelScope | None = None

    def turn(self, prompt: str | None, approvals: Approvals | None = None) -> RunResult[Any] | None:
        """Run one turn (``prompt`` ``None`` with ``approvals`` resumes a paused one);
        ``None`` if it was cancelled. Agent errors propagate."""
        scope = self.portal.call(anyio.CancelScope)  # made on the loop, cancelled from anywhere
        self._scope = scope
        future: concurrent.futures.Future[RunResult[Any] | None] | None = None
        try:
            with _ctrl_c_deferred() as interrupted:  # a Ctrl-C now must not lose the task
                future = self.portal.start_task_soon(self._turn, prompt, scope, approvals)
            # (a Ctrl-C pending as the deferral ends raises as the handler is put back)
            if interrupted:
                raise KeyboardInterrupt
            return self._wait(future)
        except KeyboardInterrupt:
            if future is None:  # no turn started: nothing to cancel
                raise
            self.cancel_turn()
            self._wait(future)  # a second Ctrl-C while cancelling leaves at once
            return None
        finally:
            self._scope = None

    def waits_for_approval(self) -> bool:
        """Whether the conversation (the session's, if kept in one) ends in a run paused for
        approval: one stored so, or one whose approved call was cancelled (Ctrl-C)."""
        history = self.history if self.store is None else self.portal.call(self.store.messages)
        return bool(pending_approvals(history))

    def cancel_turn(self) -> None:
        """Cancel the running turn, if any (thread-safe)."""
        scope = self._scope
        if scope is not None:
            self.portal.call(scope.cancel)

    @staticmethod
    def _wait(future: concurrent.futures.Future[RunResult[Any] | None]) -> RunResult[Any] | None:
        # Short waits keep the main thread responsive to Ctrl-C on every platform.
        while True:
            try:
                return future.result(timeout=0.25)
            except concurrent.futures.TimeoutError:
                continue

    async def _turn(
        self, prompt: str | None, scope: anyio.CancelScope, approvals: Approvals | None = None
    ) -> RunResult[Any] | None:
        renderer = self.renderer
        renderer.turn_started()
        started = time.monotonic()
        result: RunResult[Any] | None = None
        try:
            with scope:
                async with self.agent.run_stream(
                    prompt,
                    message_history=None if self.store is not None else self.history,
                    session=self.store,
                    model=self.model,
                    hooks=self.hooks,
                    approvals=approvals,
                ) as stream:
                    async for event in stream:
                        renderer.event(event)
                result = stream.result
        finally:  # a turn that failed waits for nothing more (no spinner under the prompt)
            renderer.waiting(None)
        if result is None:
            renderer.cancelled()
            return None
        self.history = list(result.messages)
        self.last_result = result
        renderer.result(
            result,
            seconds=time.monotonic() - started,
            local=renderer.embedded_model,  # what model_scope told it about the model
            on_this_machine=renderer.on_this_machine,
        )
        return result
