"""`python -m tests.bench.limiter_cpu [--calls N] [--rounds R]`: the rate limiter's CPU per
admitted call, this process's and Redis's, on an embedded Redis (Unix socket, as `paygate
up` runs it).

Two ways of admitting a call under a high limit (1000000/second, as the bench merchants
have), in alternating order each round (per-call, leased, leased, per-call, ...):
`per-call` is limits' own sliding window script once per call (how every admitted call
was decided before leases), `leased` is adapters/ratelimit.py's LimitsRateLimiter. Each
runs the calls from 8 concurrent tasks on one key, as an API process's concurrent
requests of one merchant. Prints µs of CPU per call for the process and for Redis, and
the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis.asyncio
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from adapters.ratelimit import KEY_PREFIX, LimitsRateLimiter, parse_limit
from servers.runtime import embedded_redis

LIMIT = "1000000/second"
TASKS = 8


async def _redis_cpu(client: redis.asyncio.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _run(url: str, way: str, calls: int, client: redis.asyncio.Redis) -> tuple[float, float]:
    key = f"bench:{way}:{time.monotonic_ns()}"
    if way == "leased":
        limiter = LimitsRateLimiter(url)

        async def hit() -> bool:
            return (await limiter.hit(key, LIMIT)).allowed

        close = limiter.aclose
    else:
        pool = redis.asyncio.ConnectionPool.from_url(url, socket_timeout=0.25)
        storage = RedisStorage(
            "async+redis+" + url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis
        )
        strategy, item = SlidingWindowCounterRateLimiter(storage), parse_limit(LIMIT)

        async def hit() -> bool:
            return await strategy.hit(item, key)

        close = pool.aclose

    async def task() -> None:
        for _ in range(calls // TASKS):
            assert await hit()

    await hit()  # connections and scripts loaded before the measure
    redis_before, before = await _redis_cpu(client), time.process_time()
    await asyncio.gather(*(task() for _ in range(TASKS)))
    spent, redis_spent = time.process_time() - before, await _redis_cpu(client) - redis_before
    await close()
    done = calls // TASKS * TASKS
    return spent / done * 1e6, redis_spent / done * 1e6


async def measure(url: str, socket: Path, calls: int, rounds: int) -> None:
    client = redis.asyncio.Redis(unix_socket_path=str(socket))
    figures: dict[str, list[tuple[float, float]]] = {"per-call": [], "leased": []}
    for r in range(rounds):
        order = ["per-call", "leased"] if r % 2 == 0 else ["leased", "per-call"]
        for way in order:
            figures[way].append(await _run(url, way, calls, client))
    await client.aclose()
    for way, runs in figures.items():
        process = statistics.median(p for p, _ in runs)
        in_redis = statistics.median(r for _, r in runs)
        each = ", ".join(f"{p:.0f}/{r:.0f}" for p, r in runs)
        print(f"{way:9} µs CPU per call: process {process:.1f}, Redis {in_redis:.1f} ({each})")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(calls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="limiter-cpu-") as folder:
        socket = embedded_redis.socket_path(Path(folder))
        server = subprocess.Popen(embedded_redis.command(socket), stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not socket.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            asyncio.run(measure(embedded_redis.url(socket), socket, calls, rounds))
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    main(args.calls, args.rounds)
