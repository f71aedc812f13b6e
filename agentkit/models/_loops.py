"""What a model keeps open on one event loop, closed when that loop ends.

A model's connection pool is shared by every run on the event loop that opened it and
is closed by that loop's own end-of-run machinery, not by each run:

* asyncio: ``asyncio.run()`` (and ``asyncio.Runner``, which ``anyio.run`` and
  ``run_sync`` use) calls ``loop.shutdown_asyncgens()`` before it closes the loop, which
  closes, *on the loop*, every async generator the loop saw start that is still
  suspended. Each pool has such a generator, suspended at its only ``yield``; its
  ``finally`` closes the pool. Until then the pool is held by an ``anyio.lowlevel.RunVar``
  (a value per event loop), so it is never garbage before it is closed.
* trio: a system task (``trio.lowlevel.spawn_system_task``) per pool is cancelled when
  the main task exits, while the run can still do I/O; its ``finally`` closes the pool.

``LoopBound.close()`` closes it sooner (``async with model:`` ending, ``model.aclose()``).
A ``LoopBound`` dropped while its loop runs (a model built per request, then
forgotten) has its pool closed on the loop soon after, so a long-running loop does not
collect pools: asyncio's finalizer hook for async generators closes the generator on
the loop; on trio a ``weakref.finalize`` wakes the system task.

A loop run by hand must do what ``asyncio.run`` does before ``loop.close()``:
``loop.run_until_complete(loop.shutdown_asyncgens())``; otherwise its pools are left to
the garbage collector (and warn).

Nothing here is imported with ``agentkit``: the model loads it with its first request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

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

    __slots__ = ("_close", "_held", "closed", "finalizer")

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._close = close
        self._held: set[_Closer] | None = None
        self.closed = False
        self.finalizer: weakref.finalize[..., LoopBound] | None = None

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


class LoopBound:
    """A resource of one event loop, closed exactly once: by ``close()``, when the loop
    ends, or soon after this handle is dropped."""

    __slots__ = ("__weakref__", "_closer", "_done", "_keeper")

    def __init__(self, closer: _Closer) -> None:
        self._closer = closer
        self._keeper: AsyncGenerator[None, None] | None = None
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
                keeper, self._keeper = self._keeper, None
                if keeper is not None:
                    await keeper.aclose()  # its finally finds the resource closed
                if self._done is not None:
                    self._done.set()


async def until_loop_ends(close: Callable[[], Awaitable[None]]) -> LoopBound:
    """Arrange for ``close()`` to run when the current event loop ends (see the module
    docs); the returned ``LoopBound`` closes it sooner. Never suspends the caller."""
    closer = _Closer(close)
    bound = LoopBound(closer)
    if isinstance(anyio.lowlevel.current_token().native_token, asyncio.AbstractEventLoop):
        held = _HELD.get(None)
        if held is None:
            held = set()
            _HELD.set(held)
        held.add(closer)
        closer._held = held
        keeper = _held_by_generator(closer)
        await keeper.asend(None)  # runs to the yield: the loop now tracks the generator
        bound._keeper = keeper
    else:
        import trio

        done = bound._done = trio.Event()
        trio.lowlevel.spawn_system_task(
            _held_by_system_task, closer, done, name="agentkit: close a pool at run end"
        )
        closer.finalizer = weakref.finalize(bound, _wake, trio.lowlevel.current_trio_token(), done)
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


def _wake(token: trio.lowlevel.TrioToken, done: trio.Event) -> None:
    """A dropped ``LoopBound`` on trio: let its system task close the pool now."""
    import trio

    try:
        token.run_sync_soon(done.set)
    except trio.RunFinishedError:  # the run's end closed it already
        pass
