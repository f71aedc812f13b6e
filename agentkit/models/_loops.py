"""What a model keeps open on one event loop, closed when that loop ends.

A model's connection pool is shared by every run on the event loop that opened it and
is closed by that loop's own end-of-run machinery, not by each run:

* asyncio: ``asyncio.run()`` (and ``asyncio.Runner``, which ``anyio.run`` and
  ``run_sync`` use) calls ``loop.shutdown_asyncgens()`` before it closes the loop, which
  closes, *on the loop*, every async generator the loop saw start that is still
  suspended. Each pool has such a generator, suspended at its only ``yield``; its
  ``finally`` closes the pool. Until then the pool and its generator are held by an
  ``anyio.lowlevel.RunVar`` (a value per event loop), so neither is garbage before the
  pool is closed.
* trio: a system task (``trio.lowlevel.spawn_system_task``) per pool is cancelled when
  the main task exits, while the run can still do I/O; its ``finally`` closes the pool.

``LoopBound.close()`` closes it sooner (``async with model:`` ending, ``model.aclose()``).
A ``LoopBound`` dropped while its loop runs (a model built per request, then
forgotten) has its pool closed on the loop soon after, so a long-running loop does not
collect pools: a ``weakref.finalize`` on it starts a task that closes the generator
(asyncio) or wakes the system task (trio). Not asyncio's own finalizer hook for a
dropped generator: its task is an ordinary one, and a model dropped as the loop ends (an
agent built in ``main()``, or in a test) has that task cancelled by ``asyncio.run``'s
cancelling of leftover tasks, before its first step (a generator thrown into that early
never finishes its ``finally``) or between two connections' closes (an anyio shield
does not stop a native cancel): the rest of the pool is left open, and warns. Ours
ignores ``cancel()`` (closing sockets never waits on the network), so it finishes while
``asyncio.run`` waits for the tasks it cancelled.

A loop run by hand must do what ``asyncio.run`` does before ``loop.close()``:
``loop.run_until_complete(loop.shutdown_asyncgens())``; otherwise its pools are left to
the garbage collector (and warn).

Nothing here is imported with ``agentkit``: the model loads it with its first request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

if TYPE_CHECKING:
    import trio

__all__ = ["LoopBound", "until_loop_ends"]

_HELD: anyio.lowlevel.RunVar[set[_Closer]] = anyio.lowlevel.RunVar("agentkit_loop_held")
"""asyncio: what each event loop keeps open until it ends (or it is closed sooner)."""


class _Closer:
    """Closes the resource exactly once; holds nothing that holds it (no reference cycle
    keeps a pool from being closed before it is garbage)."""

    __slots__ = ("_close", "_held", "closed", "finalizer", "keeper", "task")

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._close = close
        self._held: set[_Closer] | None = None
        self.closed = False
        self.finalizer: weakref.finalize[..., LoopBound] | None = None
        self.keeper: AsyncGenerator[None, None] | None = None
        """asyncio: the generator whose ``finally`` closes the resource at the loop's end."""
        self.task: asyncio.Task[None] | None = None
        """asyncio: the task closing the resource after its ``LoopBound`` was dropped."""

    async def run(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.finalizer is not None:
            self.finalizer.detach()
        try:
            with anyio.CancelScope(shield=True):
                await self._close()
        finally:
            if self._held is not None:
                self._held.discard(self)

    async def release(self) -> None:
        """Finish the generator (asyncio): its ``finally`` finds the resource closed."""
        keeper, self.keeper = self.keeper, None
        if keeper is not None:
            await keeper.aclose()


class LoopBound:
    """A resource of one event loop, closed exactly once: by ``close()``, when the loop
    ends, or soon after this handle is dropped."""

    __slots__ = ("__weakref__", "_closer", "_done")

    def __init__(self, closer: _Closer) -> None:
        self._closer = closer
        self._done: trio.Event | None = None

    @property
    def closed(self) -> bool:
        """Whether the resource was closed (or is being closed)."""
        return self._closer.closed

    async def close(self) -> None:
        """Close the resource now, shielded from cancellation; later calls do nothing."""
        with anyio.CancelScope(shield=True):
            try:
                await self._closer.run()
            finally:
                await self._closer.release()
                if self._done is not None:
                    self._done.set()


async def until_loop_ends(close: Callable[[], Awaitable[None]]) -> LoopBound:
    """Arrange for ``close()`` to run when the current event loop ends (see the module
    docs); the returned ``LoopBound`` closes it sooner. Never suspends the caller."""
    closer = _Closer(close)
    bound = LoopBound(closer)
    native = anyio.lowlevel.current_token().native_token
    if isinstance(native, asyncio.AbstractEventLoop):
        held = _HELD.get(None)
        if held is None:
            held = set()
            _HELD.set(held)
        held.add(closer)
        closer._held = held
        keeper = closer.keeper = _held_by_generator(closer)
        await keeper.asend(None)  # runs to the yield: the loop now tracks the generator
        closer.finalizer = weakref.finalize(bound, _dropped_on_asyncio, native, closer)
    else:
        import trio

        done = bound._done = trio.Event()
        trio.lowlevel.spawn_system_task(
            _held_by_system_task, closer, done, name="agentkit: close a pool at run end"
        )
        token = trio.lowlevel.current_trio_token()
        closer.finalizer = weakref.finalize(bound, _dropped_on_trio, token, done)
    closer.finalizer.atexit = False  # at exit, every loop has ended (or was left unclosed)
    return bound


async def _held_by_generator(closer: _Closer) -> AsyncGenerator[None, None]:
    """Suspended until the loop's ``shutdown_asyncgens()``, ``LoopBound.close()``, or the
    loop's finalizer hook (the ``LoopBound`` was dropped)."""
    try:
        yield
    finally:
        await closer.run()


async def _held_by_system_task(closer: _Closer, done: trio.Event) -> None:
    """Waits until trio cancels the system tasks at the end of the run, or ``done``. A
    system task must not raise: a failure to close is logged."""
    try:
        await done.wait()
    finally:
        try:
            await closer.run()
        except Exception:
            import logging

            logging.getLogger("agentkit").exception("closing a connection pool failed")


def _dropped_on_asyncio(loop: asyncio.AbstractEventLoop, closer: _Closer) -> None:
    """A dropped ``LoopBound`` on asyncio (called from any thread, maybe by the garbage
    collector): close its resource on its loop soon."""
    try:
        loop.call_soon_threadsafe(_close_dropped, loop, closer)
    except RuntimeError:  # the loop is closed: its end closed the resource already
        pass


def _close_dropped(loop: asyncio.AbstractEventLoop, closer: _Closer) -> None:
    """On the loop: a task that finishes the generator, whose ``finally`` closes the
    resource. Nothing else awaits it (the ``LoopBound`` is gone), so it is held here."""
    if closer.keeper is not None and closer.task is None:
        closer.task = _CloseTask(_release(closer), loop=loop, name="agentkit: close a pool")


class _CloseTask(asyncio.Task[None]):
    """A task that ``cancel()`` does not stop. Closing a pool takes a loop iteration per
    connection, and the loop's end (``asyncio.Runner.close``) cancels every task left
    before ``shutdown_asyncgens()``; an anyio shield does not stop that native cancel,
    and a close cut there leaves the rest of the pool's sockets open. Closing sockets
    never waits on the network, so letting it finish cannot hold the loop's end up."""

    def cancel(self, msg: Any | None = None) -> bool:
        return False


async def _release(closer: _Closer) -> None:
    try:
        await closer.release()
    finally:
        closer.task = None


def _dropped_on_trio(token: trio.lowlevel.TrioToken, done: trio.Event) -> None:
    """A dropped ``LoopBound`` on trio: let its system task close the pool now."""
    import trio

    try:
        token.run_sync_soon(done.set)
    except trio.RunFinishedError:  # the run's end closed it already
        pass
