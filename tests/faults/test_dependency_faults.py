"""Every dependency behind a fault proxy, under load: latency, connection resets and a
black hole, then healthy again; the invariants after each (docs/reliability.md, "Faults
on the wire").

- latency: payments succeed, nothing stuck;
- resets: calls fail fast with UNAVAILABLE (HTTP 503, JSON code 14) or succeed, never
  INTERNAL, nothing half-written, and the same processes serve again once healed;
- black hole: every call answers within its dependency's bound (no request hangs), with
  the same answers as resets, then recovery.

`make test` runs a few cases; `make test-faults` (PAYGATE_PROXY_FAULTS=all) runs each
dependency in each mode.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from adapters.sql.engine import create_engine
from tests.faults import invariants
from tests.faults.proxied import LONG_PROFILE, Proxied, long_profile, payments_of
from tests.faults.proxy import FaultProxy
from tests.faults.test_outages import books_hold, loaded
from tests.faults.waiting import eventually

FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "latency": lambda proxy: proxy.latency(0.03, jitter=0.03),
    "reset": lambda proxy: proxy.reset(),
    "black_hole": lambda proxy: proxy.black_hole(),
}
DEPENDENCIES = ("postgres", "redis", "acquirer", "psp")
SHORT = [("postgres", "black_hole")]
LONG = [(dependency, fault) for dependency in DEPENDENCIES for fault in FAULTS]
CASES = LONG if LONG_PROFILE else SHORT
# Answers to wait for before, during and after the fault: during, one per client at least
# (every client's call came back: nothing hangs).
ENOUGH = (4, 6, 4) if LONG_PROFILE else (2, 4, 2)


def allowed(dependency: str, fault: str) -> set[str]:
    """Answers a client may get while `dependency` misbehaves. Redis holds nothing
    payments need (rate limits fail open, the event relay waits): its faults change no
    answer. 429: clients failing fast outrun their rate limit."""
    if fault == "latency" or dependency == "redis":
        return {"200"}
    return {"200", "429", "503 UNAVAILABLE"}


@pytest.mark.parametrize(("dependency", "fault"), CASES)
async def test_a_dependency_fault_under_load(proxied: Proxied, dependency: str, fault: str) -> None:
    gateway, proxy = proxied.gateway, proxied.proxies[dependency]
    pids = dict(gateway.pids)
    through = proxy.stats["accepted"] + proxy.stats["to_upstream"]
    before, during, after = ENOUGH
    with loaded(gateway, "eur" if dependency == "psp" else "usd") as (load, tasks):
        try:
            assert await eventually(lambda: load.served("before") >= before), load.answers
            load.phase = "fault"
            FAULTS[fault](proxy)
            assert await eventually(
                lambda: sum(load.answers.get("fault", Counter()).values()) >= during
            )
        finally:
            proxy.healthy()
        load.phase = "back"
        assert await eventually(lambda: load.served("back") >= after), load.answers
        load.stop = True
        await asyncio.gather(*tasks)
    print(
        f"\n{dependency} {fault}: answers {load.answers}, confirmed {load.outcomes},"
        f" proxy {dict(proxy.stats)}"
    )
    assert proxy.stats["accepted"] + proxy.stats["to_upstream"] > through  # on the path
    during = load.answers["fault"]
    assert set(during) <= allowed(dependency, fault), load.answers
    assert "no answer" not in during  # bounded: every call answered
    assert not any(kind.startswith("500") for phase in load.answers.values() for kind in phase)
    assert gateway.pids == pids  # served again without a restart
    assert await books_hold(gateway, load) == []
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            _, problems = await invariants.acquirer_books(gateway, connection)
    finally:
        await engine.dispose()
    assert problems == []


CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}


@pytest.mark.parametrize(
    ("replies_only", "settled_as", "outcomes"),
    [
        # The request reached the card network and was approved; its answer was lost.
        (True, "REQUIRES_CAPTURE", ["APPROVED"]),
        # The request itself was lost: the network never heard of the attempt.
        pytest.param(False, "REQUIRES_PAYMENT_METHOD", ["ACQUIRER_NOT_ASKED"], marks=long_profile),
    ],
)
async def test_an_acquirer_black_holed_after_the_request_left(
    proxied: Proxied, replies_only: bool, settled_as: str, outcomes: list[str]
) -> None:
    """PROCESSING, never a decline; recovery then asks the acquirer, and our books say
    what its books say: paid once, or not at all."""
    gateway, proxy = proxied.gateway, proxied.proxies["acquirer"]
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=60) as http:

        async def confirmed(capture_method: str) -> httpx.Response:
            token = await http.post("/v1/tokens", json={"card": CARD}, headers=pk)
            intent = await http.post(
                "/v1/payment_intents",
                json={"amount": 4100, "currency": "usd", "capture_method": capture_method},
                headers=sk,
            )
            return await http.post(
                f"/v1/payment_intents/{intent.json()['id']}/confirm",
                json={"payment_method": token.json()["id"]},
                headers=sk,
            )

        warm = await confirmed("AUTOMATIC")  # the channel is connected: a request can leave
        assert warm.json()["status"] == "SUCCEEDED", warm.text
        proxy.black_hole(replies_only=replies_only)
        try:
            paid = await confirmed("MANUAL")
        finally:
            proxy.healthy()
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "PROCESSING"  # outcome unknown, not declined
        intent_id = paid.json()["id"]

        async def settled() -> str:
            got = await http.get(f"/v1/payment_intents/{intent_id}", headers=sk)
            return "" if got.json()["status"] == "PROCESSING" else str(got.json()["status"])

        assert await eventually(settled) == settled_as
    found, _ = await payments_of(gateway, intent_id)
    assert found == outcomes
