"""Polling until something holds, for tests that watch processes recover."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T] | T], within: float = 120.0) -> T:
    """The first truthy value of `check()` within `within` seconds, else its last value."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value or time.monotonic() >= deadline:
            return value  # type: ignore[return-value]
        await asyncio.sleep(0.2)
