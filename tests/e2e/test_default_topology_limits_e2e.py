"""The default topology (`make run`: two API processes, no REDIS_URL) enforces exactly the
documented rate limits: its processes share the embedded Redis (servers/runtime/embedded_redis.py)
instead of counting alone, which let through twice the documented limit."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.access.rate_limits import DEFAULT_LIMITS
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway

API_PROCESSES = 2


@pytest.fixture(scope="module")
def default_gateway(gateway_database_url: str) -> Iterator[Gateway]:
    with running_gateway(gateway_database_url, API_PROCESSES, redis_url="") as running:
        yield running


def test_the_embedded_redis_is_one_of_the_children(default_gateway: Gateway) -> None:
    assert "redis" in default_gateway.pids
    socket = default_gateway.data_dir / "redis" / "redis.sock"
    assert socket.is_socket() and socket.stat().st_mode & 0o077 == 0


def test_logins_are_limited_across_both_api_processes(default_gateway: Gateway) -> None:
    (limit,) = DEFAULT_LIMITS["login"]
    allowed = int(limit.split("/")[0])  # 5/minute per client address
    attempts = 4 * allowed
    minute = int(time.time() // 60)
    statuses = []
    with httpx.Client(base_url=default_gateway.rest_url, timeout=30) as http:
        for i in range(attempts):
            response = http.post(
                "/v1/auth/login", json={"email": f"nobody{i}@example.com", "password": "wrong"}
            )
            statuses.append(response.status_code)
    same_minute = minute == int(time.time() // 60)
    admitted = attempts - statuses.count(429)
    assert set(statuses) <= {401, 429}, statuses
    # Both processes answered logins: the limit held across them, not within one.
    assert _processes_that_served(default_gateway.data_dir / "gateway.log", "Login") == {
        f"api-{i}" for i in range(API_PROCESSES)
    }
    if same_minute:
        assert admitted == allowed, statuses
    else:  # the sliding window carried part of the previous minute's count
        assert 1 <= admitted <= allowed, statuses


def _processes_that_served(log: Path, method: str) -> set[str]:
    pattern = re.compile(r'"proc":"(api-\d+)".*"method": "/paygate\.v1\.AuthService/' + method)
    return {m.group(1) for m in map(pattern.search, log.read_text().splitlines()) if m}
