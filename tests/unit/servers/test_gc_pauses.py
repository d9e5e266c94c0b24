"""A serving process freezes its start-up objects and times every collection."""

from __future__ import annotations

import gc
import logging

import pytest

from servers.runtime import gc_pauses


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_every_collection_is_observed_and_a_full_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[int, float]] = []
    unwatch = gc_pauses.watch(lambda generation, seconds: seen.append((generation, seconds)))
    try:
        with caplog.at_level(logging.INFO, logger="paygate.gc"):
            _Cycle()
            gc.collect(0)
            gc.collect(2)
    finally:
        unwatch()
    assert [generation for generation, _ in seen] == [0, 2]
    assert all(seconds >= 0 for _, seconds in seen)
    (line,) = [r for r in caplog.records if r.name == "paygate.gc"]
    fields = line.fields  # type: ignore[attr-defined]
    assert fields["generation"] == 2 and fields["ms"] >= 0 and fields["cpu_ms"] >= 0
    gc.collect(0)
    assert len(seen) == 2  # unwatched: no more observations


def test_freeze_leaves_a_full_collection_only_what_came_after() -> None:
    try:
        gc_pauses.freeze()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the test process's modules, classes, functions...
        assert sum(gc.get_count()) < frozen
        later = [_Cycle() for _ in range(10)]
        assert all(gc.is_tracked(c) for c in later)
        del later
        assert gc.collect() >= 10  # new cycles are still collected
    finally:
        gc.unfreeze()
