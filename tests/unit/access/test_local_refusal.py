"""The limiter's local refusal (adapters/ratelimit.py refused_for) never refuses a hit
that Redis would admit: checked against a model of limits' sliding-window Lua scripts,
step for step, under random traffic from many processes."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from adapters.ratelimit import refused_for

EXPIRY_MS = 1000


@dataclass(eq=False)  # one window's key: told apart by identity
class _Key:
    count: int
    expires_at: int  # ms


class SlidingWindowModel:
    """acquire_sliding_window.lua and sliding_window.lua over two keys, time in ms."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.previous: _Key | None = None
        self.current: _Key | None = None

    def _alive(self, key: _Key | None, now: int) -> _Key | None:
        return key if key is not None and key.expires_at > now else None

    def _window(self, now: int) -> tuple[int, int, int, int]:
        self.previous, self.current = (
            self._alive(self.previous, now),
            self._alive(self.current, now),
        )
        if self.current is not None and self.current.expires_at - now < EXPIRY_MS:
            ttl = self.current.expires_at - now
            self.previous = self.current  # RENAME keeps the TTL
            self.current = _Key(0, now + ttl + EXPIRY_MS)
        p, c = self.previous, self.current
        return (
            p.count if p else 0,
            p.expires_at - now if p else 0,
            c.count if c else 0,
            c.expires_at - now if c else 0,
        )

    def acquire(self, now: int) -> bool:
        previous, previous_ttl, current, _ = self._window(now)
        if previous * previous_ttl // EXPIRY_MS + current + 1 > self.limit:
            return False
        if self.current is not None:
            self.current.count += 1
        else:
            self.current = _Key(1, now + 2 * EXPIRY_MS)
        return True

    def counts(self, now: int) -> tuple[int, float, int, float]:
        p, pt, c, ct = self._window(now)
        return p, pt / 1000, c, ct / 1000


@pytest.mark.parametrize("seed", range(40))
def test_a_local_refusal_is_always_a_redis_refusal(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([1, 2, 5, 20, 168])
    model = SlidingWindowModel(limit)
    # Bursts and lulls: from a tenth of the limit to ten times it, for a few windows.
    now, refused_until = 0, -1.0
    for _ in range(3000):
        rate = limit * rng.choice([0.1, 0.5, 1.0, 2.0, 10.0])
        now += max(0, round(rng.expovariate(rate) * 1000))
        if now < refused_until:
            assert not model.acquire(now), (seed, now, refused_until)
            continue
        if not model.acquire(now):
            lasts = refused_for(*model.counts(now), limit, EXPIRY_MS / 1000)
            refused_until = now + lasts * 1000


def test_a_flood_is_mostly_refused_locally() -> None:
    model, limit = SlidingWindowModel(20), 20
    now, refused_until, asked, local = 0, -1.0, 0, 0
    for _ in range(2000):
        now += 5  # 200 a second against 20 a second
        if now < refused_until:
            local += 1
            assert not model.acquire(now)
            continue
        asked += 1
        if not model.acquire(now):
            refused_until = now + refused_for(*model.counts(now), limit, 1.0) * 1000
    assert local > asked  # most refusals never reached Redis


def test_a_merchant_far_over_its_limit_is_refused_until_the_window_turns() -> None:
    # 1,000 hits counted in the current window of a 100/second limit, 1.5 s of it left:
    # after the rollover the previous count's weight falls below 100 at 1.5 - 0.1 s.
    assert refused_for(0, 0.0, 1000, 1.5, 100, 1.0) == pytest.approx(1.4, abs=0.01)
    # Under the limit with no previous window: nothing to refuse locally.
    assert refused_for(0, 0.0, 5, 1.5, 100, 1.0) == 0.0
