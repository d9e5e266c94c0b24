"""Redis connections reset under load (tests/faults/proxy.py), on uvloop as the API
processes run: the rate limiter lets every call through, as its policy says
(docs/reliability.md), never an unhandled error. Under uvloop, redis-py writing to a
connection the peer has just reset raises RuntimeError ("the handler is closed"), which
neither redis-py nor limits translate.

Every call counts against a key of its own, so that every call asks Redis (a first lease
is one call): on one key the limiter would spend leased calls locally, asking Redis a few
times a second, and at this loop's pace (well over 100,000 calls a second) it would
rightly refuse some."""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Iterator

import pytest
import uvloop

from adapters.ratelimit import LimitsRateLimiter
from tests.faults.proxied import redis_upstream
from tests.faults.proxy import FaultProxy

CLIENTS = 16


@pytest.fixture
def proxy_and_db(redis_url: str) -> Iterator[tuple[FaultProxy, str]]:
    upstream, database = redis_upstream(redis_url)
    with FaultProxy.start(upstream) as proxy:
        yield proxy, database


def test_the_rate_limiter_lets_calls_through_resets(
    proxy_and_db: tuple[FaultProxy, str], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, database = proxy_and_db
    prefix = f"faults-reset-{uuid.uuid4()}"

    async def scenario() -> list[bool]:
        limiter = LimitsRateLimiter(f"redis://{proxy.address}/{database}")
        stop = asyncio.Event()
        answers: list[bool] = []
        calls = itertools.count()

        async def client() -> None:
            while not stop.is_set():
                key = f"{prefix}-{next(calls)}"
                answers.append((await limiter.hit(key, "100000/second")).allowed)
                await asyncio.sleep(0)

        try:
            clients = [asyncio.ensure_future(client()) for _ in range(CLIENTS)]
            for _ in range(5):
                await asyncio.sleep(0.05)
                await asyncio.to_thread(proxy.reset)
                await asyncio.sleep(0.05)
                await asyncio.to_thread(proxy.healthy)
            stop.set()
            await asyncio.gather(*clients)  # an unhandled error would surface here
        finally:
            await limiter.aclose()
        return answers

    with caplog.at_level(logging.WARNING, logger="adapters.ratelimit"):
        answers = uvloop.run(scenario())
    assert answers and all(answers)
    assert proxy.stats["reset"] >= 5
    # The resets reached the limiter's calls, and it let them through.
    assert any("letting the call through" in r.getMessage() for r in caplog.records)
