"""SQLAlchemy's synchronous calls from asyncio, on greenlets that are reused.

SQLAlchemy's asyncio layer runs each synchronous call (a pool checkout, a connection's
close) in a new greenlet (`greenlet_spawn`), switching back to the event loop whenever
the call awaits the driver (`await_`). On CPython 3.11 each new greenlet allocates a
fresh 16 KiB frame stack (an mmap) and frees it when it ends (a munmap): two system
calls and their page faults per call, which is most of what a unit of work's checkout
and return cost (docs/performance.md, "A unit of work's checkout and return on reused
greenlets").

`run_sync` does what `greenlet_spawn` does, on a greenlet taken from a small free list
of this thread and given back when the call ends: the same switching protocol (the
greenlet says it is SQLAlchemy's provider, so `await_` inside it switches to the caller
with the awaitable), the caller's context variables (tracing's current span), and an
exception thrown into the call when the await raises (a cancellation included).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet  # type: ignore[import-untyped]

_T = TypeVar("_T")

# Greenlets kept idle per thread: as many as calls run at once, in practice the pool's
# connections being checked out or returned at the same instant.
_KEEP = 32


class _Ended:
    """What a call ended with: its value, or the exception it raised."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any, error: BaseException | None) -> None:
        self.value = value
        self.error = error


class _Runner(greenlet):  # type: ignore[misc]
    """A greenlet that runs one synchronous call after another."""

    # `await_` (sqlalchemy.util.concurrency) switches to the parent only from a greenlet
    # that says this.
    __sqlalchemy_greenlet_provider__ = True

    def __init__(self) -> None:
        super().__init__(self._serve)

    def _serve(self, call: Callable[..., Any], args: tuple[Any, ...]) -> None:
        while True:
            try:
                ended = _Ended(call(*args), None)
            except BaseException as error:  # given to the caller, who raises it
                ended = _Ended(None, error)
            call = args = None  # type: ignore[assignment]
            # Back to whoever runs this call; the next call arrives here.
            call, args = self.parent.switch(ended)


class _Idle(threading.local):
    def __init__(self) -> None:
        self.runners: list[_Runner] = []


_idle = _Idle()


async def run_sync(call: Callable[..., _T], *args: Any) -> _T:
    """`call(*args)` as `sqlalchemy.util.greenlet_spawn` runs it, on a reused greenlet."""
    current = getcurrent()
    idle = _idle.runners
    runner = idle.pop() if idle else _Runner()
    runner.parent = current
    runner.gr_context = current.gr_context
    result: Any = runner.switch(call, args)
    while type(result) is not _Ended:
        if runner.dead:  # only if something killed it mid-call
            raise RuntimeError("the greenlet running a SQLAlchemy call ended")
        # The call awaits `result` (an awaitable given to `await_`).
        try:
            value = await result
        except BaseException:
            result = runner.throw(*sys.exc_info())
        else:
            result = runner.switch(value)
    # The runner waits for its next call; it keeps no reference to this one's context.
    runner.gr_context = None
    if len(idle) < _KEEP:
        idle.append(runner)
    if result.error is not None:
        error = result.error
        raise error
    return result.value  # type: ignore[no-any-return]
