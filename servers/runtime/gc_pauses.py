"""Garbage collection in a serving process: the start-up's objects frozen, every pause
measured.

A full (generation 2) collection walks every tracked object of the process. An API
process holds about 160,000 of them once it has imported grpcio, protobuf, SQLAlchemy and
the services, nearly all built at start-up and alive until exit, so each full collection
paused the event loop for tens of milliseconds (docs/performance.md, "The tail at half
the peak"), and every call in flight waited for it. `freeze()` moves what exists once the
process serves into the permanent generation, which no collection walks: a full
collection then walks only what was allocated since. Full collections come more often
(CPython starts one when the objects promoted since the last reach a quarter of those the
last one kept, and the frozen ones no longer count), each one short. Frozen objects are
never collected, which costs nothing here: the start-up's objects live as long as the
process.

`watch(observe)` times every collection (`observe(generation, seconds)`, the
`paygate_gc_pause_seconds` histogram) and writes a log line for each full one, so a tail
can be laid beside the collections that made it.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("paygate.gc")

FULL = 2


def freeze() -> None:
    """Collects once, then freezes every surviving object (call when the process is
    ready to serve, before its first request)."""
    gc.collect()
    gc.freeze()


class _Timer:
    def __init__(self, observe: Callable[[int, float], None] | None) -> None:
        self._observe = observe
        self._started = 0.0
        self._cpu = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._cpu = time.thread_time()
            return
        seconds = time.perf_counter() - self._started
        generation = info["generation"]
        if self._observe is not None:
            self._observe(generation, seconds)
        if generation == FULL:
            fields = {
                "generation": generation,
                "ms": round(seconds * 1000, 2),
                # The collection's own CPU: on a busy machine `ms` includes waiting for a core.
                "cpu_ms": round((time.thread_time() - self._cpu) * 1000, 2),
                "collected": info["collected"],
                "frozen": gc.get_freeze_count(),
            }
            log.info("gc", extra={"fields": fields})


def watch(observe: Callable[[int, float], None] | None = None) -> Callable[[], None]:
    """Times every collection from now on; returns the function that stops it."""
    timer = _Timer(observe)
    gc.callbacks.append(timer)
    return lambda: gc.callbacks.remove(timer)
