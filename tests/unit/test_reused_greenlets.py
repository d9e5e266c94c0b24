"""adapters/sql/greenlets.py: SQLAlchemy's synchronous calls on reused greenlets."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from sqlalchemy.util import await_

from adapters.sql import greenlets
from adapters.sql.greenlets import run_sync

_current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")


def _awaits_twice(value: int) -> int:
    first = await_(asyncio.sleep(0, value))
    second = await_(asyncio.sleep(0, value + 1))
    return first + second


async def test_a_call_that_awaits_gives_its_value_and_its_greenlet_is_reused() -> None:
    assert await run_sync(_awaits_twice, 20) == 41
    idle = list(greenlets._idle.runners)
    assert await run_sync(_awaits_twice, 1) == 3
    assert greenlets._idle.runners == idle  # the same greenlet, taken and given back


async def test_concurrent_calls_each_run_on_their_own_greenlet() -> None:
    gate = asyncio.Event()

    def waits(value: int) -> int:
        await_(gate.wait())
        return value

    calls = [asyncio.create_task(run_sync(waits, n)) for n in range(5)]
    await asyncio.sleep(0.01)
    gate.set()
    assert await asyncio.gather(*calls) == list(range(5))


async def test_an_error_raised_by_the_call_or_its_await_is_raised_to_the_caller() -> None:
    def fails() -> None:
        raise LookupError("from the call")

    async def refuses() -> None:
        raise KeyError("from the await")

    def awaits_and_fails() -> None:
        await_(refuses())

    with pytest.raises(LookupError, match="from the call"):
        await run_sync(fails)
    with pytest.raises(KeyError, match="from the await"):
        await run_sync(awaits_and_fails)
    assert await run_sync(_awaits_twice, 0) == 1  # the greenlets serve on


async def test_the_call_sees_the_callers_context_and_leaves_none_behind() -> None:
    def reads() -> str:
        await_(asyncio.sleep(0))
        return _current.get()

    token = _current.set("caller")
    try:
        assert await run_sync(reads) == "caller"
    finally:
        _current.reset(token)
    assert await run_sync(reads) == "none"
    assert all(runner.gr_context is None for runner in greenlets._idle.runners)


async def test_a_cancellation_reaches_the_call_which_may_clean_up() -> None:
    cleaned: list[str] = []

    def waits_forever() -> None:
        try:
            await_(asyncio.sleep(30))
        finally:
            cleaned.append("cleaned")

    task = asyncio.create_task(run_sync(waits_forever))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cleaned"]
    assert await run_sync(_awaits_twice, 2) == 5
