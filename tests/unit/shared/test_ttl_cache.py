"""The per-process cache of merchant settings: bounded in time and in entries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from core.shared.cache import TtlCache
from tests.fakes import FixedClock


class Loads:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def of(self, key: str) -> Callable[[], Awaitable[str]]:
        async def load() -> str:
            self.keys.append(key)
            return f"{key}#{len(self.keys)}"

        return load


async def test_a_value_is_kept_for_the_ttl_then_read_again() -> None:
    clock, loads = FixedClock(), Loads()
    cache: TtlCache[str] = TtlCache(clock, timedelta(seconds=5))
    assert await cache.get("a", loads.of("a")) == "a#1"
    clock.advance(seconds=4)
    assert await cache.get("a", loads.of("a")) == "a#1"
    clock.advance(seconds=1)
    assert await cache.get("a", loads.of("a")) == "a#2"


async def test_forget_makes_the_next_get_read() -> None:
    clock, loads = FixedClock(), Loads()
    cache: TtlCache[str] = TtlCache(clock, timedelta(seconds=5))
    await cache.get("a", loads.of("a"))
    cache.forget("a")
    assert await cache.get("a", loads.of("a")) == "a#2"


async def test_beyond_its_size_the_oldest_read_is_dropped() -> None:
    clock, loads = FixedClock(), Loads()
    cache: TtlCache[str] = TtlCache(clock, timedelta(seconds=5), size=2)
    for key in ("a", "b", "c", "b", "a"):
        await cache.get(key, loads.of(key))
    assert loads.keys == ["a", "b", "c", "a"]


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        TtlCache(FixedClock(), timedelta(seconds=5), size=0)
