"""The tail summary joins Envoy's and the API's lines of a request and finds the calls
that a full collection of their own process held up."""

import json

from tests.bench.tail import summary


def _envoy(rid: str, at: str, ms: int) -> str:
    line = {"logger": "envoy.access", "ts": at, "duration_ms": ms, "request_id": rid}
    return json.dumps({"proc": "envoy", **line, "upstream": "127.0.0.1:1"})


def _api(proc: str, rid: str, end: str, ms: float) -> str:
    return json.dumps(
        {"proc": proc, "ts": end, "logger": "paygate.access", "ms": ms, "request_id": rid}
    )


def _gc(proc: str, end: str, ms: float) -> str:
    return json.dumps({"proc": proc, "ts": end, "logger": "paygate.gc", "ms": ms, "cpu_ms": ms})


LINES = [
    *(_envoy(f"r{i}", f"2026-12-06T10:00:00.{i:03d}Z", 5) for i in range(1, 100)),
    *(_api("api-0", f"r{i}", f"2026-12-06T10:00:00.{i + 4:03d}+00:00", 3.0) for i in range(1, 99)),
    _envoy("slow", "2026-12-06T10:00:00.500Z", 90),
    _api("api-1", "slow", "2026-12-06T10:00:00.580+00:00", 80.0),
    _gc("api-1", "2026-12-06T10:00:00.560+00:00", 40.0),  # inside the slow call
    _gc("api-0", "2026-12-06T10:00:01.500+00:00", 40.0),  # during no call
    "plain text from a child",
]


def test_hops_and_full_collections() -> None:
    out = summary(LINES)
    assert out["requests"] == 100 and out["joined"] == 99  # r99 has no API line
    assert out["envoy"]["max_ms"] == 90 and out["api"]["p50_ms"] == 3.0
    assert out["envoy_minus_api"]["p50_ms"] == 2.0
    assert out["full_gc"]["count"] == 2 and out["full_gc"]["max_cpu_ms"] == 40.0
    assert out["full_gc"]["slowest_1pct_calls"] == 1
    assert out["full_gc"]["of_which_during_a_full_gc"] == 1
