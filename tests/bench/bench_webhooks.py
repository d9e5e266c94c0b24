"""Webhook throughput, measured on the real process group (not a timed test: it prints).

    .venv/bin/pytest -q -s tests/bench/bench_webhooks.py

1. Peak: CLIENTS concurrent merchants' servers make PAYMENTS full payments (token,
   intent, confirm: 3 events each) as fast as the gateway takes them, while a receiver on
   127.0.0.1 answers 200 to every webhook. Reports payments/s (the full-payment rate) and
   deliveries/s (2xx deliveries over the time from the first payment to the last
   delivery); the relay keeps up when deliveries/s >= payments/s.
2. Half of peak: payments paced at half the measured rate; for every event, the time from
   its state change (event.created, written in the change's transaction) to the first
   delivery attempt (the delivery log's attempted_at): p50, p95, max.

Both clocks are the server's (same machine). The figures depend on the machine and its
load: compare runs on the same machine, never assert on them.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from tests.bench.harness import LIMITED_CLASSES, PAYGATE, UNLIMITED
from tests.databases import fresh_database
from tests.e2e.conftest import running_gateway
from tests.e2e.gateway import Gateway
from tests.webhook_receiver import Receiver

PAYMENTS = 150
CLIENTS = 12
HALF_PEAK_SECONDS = 10.0


@pytest.fixture(scope="module")
async def bench_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(postgres_admin_url, "paygate_bench") as url:
        yield url


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def pay(rest: httpx.AsyncClient, gateway: Gateway) -> None:
    intent = await rest.post(
        "/v1/payment_intents", json={"amount": 1500, "currency": "usd"}, headers=key()
    )
    token = await rest.post(
        "/v1/tokens",
        json={
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        },
        headers={"Authorization": f"Bearer {gateway.publishable_key}", **key()},
    )
    confirmed = await rest.post(
        f"/v1/payment_intents/{intent.json()['id']}/confirm",
        json={"payment_method": token.json()["id"]},
        headers=key(),
    )
    assert confirmed.status_code == 200, confirmed.text


async def wait_for(sink: Receiver, count: int, ceiling: float = 300.0) -> None:
    end = time.monotonic() + ceiling
    while len(sink.first_arrival) < count:
        assert time.monotonic() < end, f"{len(sink.first_arrival)} of {count} deliveries arrived"
        await asyncio.sleep(0.05)


def raise_limits(gateway: Gateway) -> None:
    """The documented limits (20 creates/s) would measure the limiter, not the relay:
    the operator's command lifts them for the bench merchant."""
    env = {**os.environ, "DATABASE_URL": gateway.database_url}
    for route_class in LIMITED_CLASSES:
        argv = [*PAYGATE, "limits", "set", "--class", route_class, *UNLIMITED]
        argv += ["--merchant", gateway.merchant_id]
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=120)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_webhook_throughput(bench_database: str) -> None:
    sink = Receiver()
    with running_gateway(
        bench_database,
        api_processes=2,
        webhook_allowed_networks="127.0.0.1/32",
        log_level="WARNING",
    ) as gateway:
        await asyncio.to_thread(raise_limits, gateway)
        headers = {"Authorization": f"Bearer {gateway.secret_key}"}
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(
            base_url=gateway.rest_url, headers=headers, timeout=60, limits=limits
        ) as rest:
            made = await rest.post(
                "/v1/webhook_endpoints",
                json={"url": sink.url, "enabled_events": ["*"]},
                headers=key(),
            )
            assert made.status_code == 200, made.text
            endpoint_id = made.json()["id"]

            # 1. peak
            queue: asyncio.Queue[int] = asyncio.Queue()
            for n in range(PAYMENTS):
                queue.put_nowait(n)

            async def client() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    await pay(rest, gateway)

            started = time.monotonic()
            await asyncio.gather(*(client() for _ in range(CLIENTS)))
            paid = time.monotonic()
            await wait_for(sink, 3 * PAYMENTS)
            delivered = max(sink.first_arrival.values())
            payments_per_s = PAYMENTS / (paid - started)
            deliveries_per_s = 3 * PAYMENTS / (delivered - started)

            # 2. half of peak, paced
            half = payments_per_s / 2
            before = len(sink.first_arrival)
            since = datetime.now().astimezone().isoformat()
            count = max(int(half * HALF_PEAK_SECONDS), 10)
            begin = time.monotonic()
            pending = []
            for n in range(count):
                delay = begin + n / half - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(pay(rest, gateway)))
            await asyncio.gather(*pending)
            await wait_for(sink, before + 3 * count)
            latencies = []
            cursor = ""
            while True:
                params = {"webhook_endpoint": endpoint_id, "limit": "100"}
                if cursor:
                    params["starting_after"] = cursor
                page = (await rest.get("/v1/webhook_deliveries", params=params)).json()
                for delivery in page["data"]:
                    if delivery["created"] < since:
                        continue
                    first = parse(delivery["attempts"][0]["attempted_at"])
                    latencies.append((first - parse(delivery["created"])).total_seconds())
                if not page["has_more"] or page["data"][-1]["created"] < since:
                    break
                cursor = page["data"][-1]["id"]
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(
        f"\nwebhooks bench: peak {payments_per_s:.1f} payments/s, "
        f"{deliveries_per_s:.1f} deliveries/s (ratio {deliveries_per_s / payments_per_s:.2f}, "
        f"{3 * PAYMENTS} deliveries of {PAYMENTS} payments, {CLIENTS} clients)\n"
        f"half of peak ({half:.1f} payments/s, {len(latencies)} deliveries): state change -> "
        f"first attempt p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    assert len(latencies) == 3 * count
