"""Leases of a key's window (adapters/ratelimit.py LEASE_SCRIPT, Lease): the API processes
together never admit more than the sliding window counter allows, and under load spread
over them admit about what one exact counter would. Checked against a model of the lease
script, step for step, with simulated time and random traffic."""

from __future__ import annotations

import random

import pytest

from adapters.ratelimit import LEASE_LEFT_SHARE, Lease, lease_size
from tests.unit.access.test_local_refusal import EXPIRY_MS, SlidingWindowModel, _Key


class LeaseScriptModel(SlidingWindowModel):
    """LEASE_SCRIPT: limits' acquire script over the same two keys, granting up to
    `wanted` calls."""

    def lease(self, now: int, wanted: int) -> tuple[int, int]:
        """(calls granted, the current key's ttl in ms)."""
        previous, previous_ttl, current, current_ttl = self._window(now)
        left = self.limit - previous * previous_ttl // EXPIRY_MS - current
        if left < 1:
            return 0, current_ttl
        granted = min(wanted, max(1, left // LEASE_LEFT_SHARE))
        if self.current is not None:
            self.current.count += granted
        else:
            self.current = _Key(granted, now + 2 * EXPIRY_MS)
        return granted, self.current.expires_at - now


class Fleet:
    """`processes` API processes, each with its Lease of the one key, and what each
    window of the model actually admitted."""

    def __init__(self, limit: int, processes: int) -> None:
        self.limit = limit
        self.model = LeaseScriptModel(limit)
        self.leases = [Lease() for _ in range(processes)]
        self.counted_in: list[_Key | None] = [None] * processes
        self.admitted: dict[_Key, int] = {}
        self.total = 0

    def hit(self, process: int, now: int) -> bool:
        lease, seconds = self.leases[process], now / 1000
        if not lease.take(seconds):
            granted, current_ttl = self.model.lease(now, lease.wanted(self.limit, seconds))
            if not granted:
                return False
            lease.grant(granted, seconds, current_ttl / 1000, EXPIRY_MS / 1000)
            self.counted_in[process] = self.model.current
        self._admit(self.counted_in[process], now)
        return True

    def _admit(self, window: _Key | None, now: int) -> None:
        # A leased call is spent in the window it was counted in, never after it turned.
        current = self.model.current
        assert window is not None and window is current, now
        assert current.expires_at - now >= EXPIRY_MS, now
        self.admitted[current] = self.admitted.get(current, 0) + 1
        self.total += 1
        # What the sliding window counter allows, of the calls actually admitted.
        previous = self.model.previous
        weighted = 0
        if previous is not None and previous.expires_at > now:
            weighted = self.admitted.get(previous, 0) * (previous.expires_at - now) // EXPIRY_MS
        assert weighted + self.admitted[current] <= self.limit, now


def exact_admissions(limit: int, arrivals: list[int]) -> int:
    """What the limiter admitted before leases (limits' script, one call at a time)."""
    model, admitted = LeaseScriptModel(limit), 0
    for now in arrivals:
        granted, _ = model.lease(now, 1)
        admitted += granted
    return admitted


@pytest.mark.parametrize("seed", range(30))
def test_processes_never_admit_more_than_the_limit(seed: int) -> None:
    rng = random.Random(seed)
    limit = rng.choice([1, 5, 10, 20, 100, 1000])
    fleet = Fleet(limit, rng.choice([1, 2, 3, 8]))
    # Bursts and lulls: from a tenth of the limit to ten times it, for several windows.
    now = 0
    for _ in range(4000):
        rate = limit * rng.choice([0.1, 0.5, 1.0, 2.0, 10.0])
        now += max(0, round(rng.expovariate(rate) * 1000))
        fleet.hit(rng.randrange(len(fleet.leases)), now)


@pytest.mark.parametrize("limit", [10, 20, 100, 1000])
def test_load_spread_over_the_processes_is_admitted_about_the_limit(limit: int) -> None:
    rng = random.Random(limit)
    arrivals, now = [], 0
    for _ in range(limit * 20):  # twice the limit for ten windows
        now += max(0, round(rng.expovariate(2 * limit) * 1000))
        arrivals.append(now)
    fleet = Fleet(limit, 2)
    for i, at in enumerate(arrivals):
        fleet.hit(i % 2, at)
    exact = exact_admissions(limit, arrivals)
    assert exact * 0.9 <= fleet.total <= exact * 1.02


def test_a_small_limit_is_leased_call_by_call() -> None:
    assert lease_size(10, granted=1, spent=1, seconds=0.001) == 1
    assert lease_size(19, granted=1, spent=1, seconds=0.001) == 1


def test_a_lease_grows_with_the_pace_and_shrinks_when_it_slows() -> None:
    # A first lease is one call; then at most twice the last, about 0.1 s of the pace.
    assert lease_size(100_000, granted=0, spent=0, seconds=0.0) == 1
    assert lease_size(100_000, granted=1, spent=1, seconds=0.001) == 2
    assert lease_size(100_000, granted=64, spent=64, seconds=0.01) == 128
    assert lease_size(100_000, granted=128, spent=128, seconds=1.0) == 13  # 128/s
    assert lease_size(100_000, granted=128, spent=3, seconds=60.0) == 1  # went quiet
    assert lease_size(1000, granted=1000, spent=1000, seconds=0.01) == 100  # a tenth


def test_a_lease_ends_with_the_window_it_was_counted_in() -> None:
    lease = Lease()
    # Granted 5 at t=10 s, the current key with 1.3 s to live on a 1 s window: the window
    # turns at 10.3 s.
    lease.grant(5, 10.0, 1.3, 1.0)
    assert [lease.take(10.1) for _ in range(5)] == [True] * 4 + [False]
    lease.grant(5, 20.0, 1.3, 1.0)
    assert lease.take(20.29)
    assert not lease.take(20.3)
