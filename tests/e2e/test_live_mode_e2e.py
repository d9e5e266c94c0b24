"""Live mode over REST through Envoy: a session picks its mode per call with Paygate-Mode,
keys are made per mode, and neither mode sees the other's payment intents, keys, money,
refunds, settlements, payouts, disputes or analytics."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.ledger.settlement import SettlementBatch
from tests.e2e.gateway import Gateway, sign_up
from tests.e2e.test_ledger_e2e import DISPUTED, midnight, paygate


def once() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


async def test_live_and_test_data_are_apart(gateway: Gateway, rest: httpx.AsyncClient) -> None:
    signed_in = sign_up(gateway, secrets.token_urlsafe(18))
    test = {
        "Authorization": f"Bearer {signed_in['access_token']}",
        "Paygate-Account": signed_in["accounts"][0]["account"]["id"],
    }
    live = test | {"Paygate-Mode": "live"}

    keys = {}
    for mode, session in (("test", test), ("live", live)):
        made = await rest.post(
            "/v1/api_keys", json={"type": "SECRET", "role": "DEVELOPER"}, headers=session | once()
        )
        assert made.status_code == 200, made.text
        assert made.json()["secret"].startswith(f"sk_{mode}_")
        keys[mode] = {"Authorization": f"Bearer {made.json()['secret']}"}
    for mode, session in (("test", test), ("live", live)):
        listed = (await rest.get("/v1/api_keys", headers=session)).json()["data"]
        assert [k["livemode"] for k in listed] == [mode == "live"], listed

    intents = {}
    for mode in ("test", "live"):
        made = await rest.post(
            "/v1/payment_intents", json={"amount": 1234, "currency": "usd"}, headers=keys[mode]
        )
        assert made.status_code == 200, made.text
        assert made.json()["livemode"] is (mode == "live")
        intents[mode] = made.json()["id"]

    for mode, session in (("test", test), ("live", live)):
        other = "live" if mode == "test" else "test"
        listed = (await rest.get("/v1/payment_intents", headers=session)).json()["data"]
        assert [i["id"] for i in listed] == [intents[mode]]
        assert (await rest.get(f"/v1/payment_intents/{intents[mode]}", headers=session)).is_success
        unseen = await rest.get(f"/v1/payment_intents/{intents[other]}", headers=session)
        assert unseen.status_code == 404, unseen.text
        cancel = await rest.post(
            f"/v1/payment_intents/{intents[other]}/cancel", json={}, headers=session | once()
        )
        assert cancel.status_code == 404, cancel.text
        by_key = await rest.get(f"/v1/payment_intents/{intents[other]}", headers=keys[mode])
        assert by_key.status_code == 404, by_key.text

    # A key's mode is its own; a mode that is neither is named.
    mismatch = await rest.get(
        "/v1/payment_intents", headers=keys["test"] | {"Paygate-Mode": "live"}
    )
    assert mismatch.status_code == 403 and "MODE_MISMATCH" in mismatch.text
    bad = await rest.get("/v1/payment_intents", headers=test | {"Paygate-Mode": "prod"})
    assert bad.status_code == 400 and "paygate-mode" in bad.text


async def test_each_mode_has_its_own_money(gateway: Gateway, rest: httpx.AsyncClient) -> None:
    """A live key and a test key pay and refund; balance, balance transactions, refunds,
    settlements, payouts, disputes and analytics each show the caller's mode only."""
    sessions, keys = await owner_and_keys(gateway, rest)

    amounts = {"test": 10_000, "live": 2_000}
    intents, refunds = {}, {}
    for mode, amount in amounts.items():
        intents[mode] = await pay(rest, keys[mode], amount)
        assert intents[mode]["livemode"] is (mode == "live")
        refunded = await rest.post(
            "/v1/refunds",
            json={"payment_intent": intents[mode]["id"], "amount": 500},
            headers=keys[mode] | once(),
        )
        assert refunded.status_code == 200, refunded.text
        assert refunded.json()["livemode"] is (mode == "live"), refunded.text
        refunds[mode] = refunded.json()["id"]

    now = datetime.now(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    span = {
        "currency": "usd",
        "start": (day - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "end": (day + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "interval": "DAY",
    }
    for mode, amount in amounts.items():
        other = "live" if mode == "test" else "test"
        fee = (amount * 29 + 500) // 1000 + 30  # 2.9% + 30, half up
        net = amount - fee - 500  # the refund keeps the fee
        for caller in (keys[mode], sessions[mode]):
            balance = (await rest.get("/v1/balance", headers=caller)).json()
            assert balance["pending"] == [{"amount": str(net), "currency": "USD"}], balance
            assert balance["livemode"] is (mode == "live"), balance
            listed = (await rest.get("/v1/balance_transactions", headers=caller)).json()["data"]
            assert sorted(int(t["net"]) for t in listed) == [-500, amount - fee], listed
            assert [t["livemode"] for t in listed] == [mode == "live"] * 2, listed
            mine = (await rest.get("/v1/refunds", headers=caller)).json()["data"]
            assert [(r["id"], r["livemode"]) for r in mine] == [(refunds[mode], mode == "live")]
            unseen = await rest.get(f"/v1/refunds/{refunds[other]}", headers=caller)
            assert unseen.status_code == 404, unseen.text
            for listing in ("/v1/settlements", "/v1/payouts", "/v1/disputes"):
                page = await rest.get(listing, headers=caller)
                assert page.status_code == 200 and page.json()["data"] == [], page.text
        analytics = await rest.get("/v1/analytics/payments", params=span, headers=sessions[mode])
        assert analytics.status_code == 200, analytics.text
        totals = analytics.json()["totals"]
        assert (totals["payments"], totals["volume"], totals["refunds"]) == (
            "1",
            str(amount),
            "500",
        ), totals
        # Test money never funds a live payout, nor live money a test one.
        payout = await rest.post(
            "/v1/payouts",
            json={"amount": net + 1, "currency": "usd"},
            headers=sessions[mode] | once(),  # the owner: a developer key may not pay out
        )
        assert payout.status_code == 400 and "BALANCE_INSUFFICIENT" in payout.text


async def test_settlements_payouts_and_disputes_say_their_mode(
    gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    """A disputed payment in each mode, settled on the day it came due, then paid out
    automatically: every object of the book says the mode it belongs to."""
    sessions, keys = await owner_and_keys(gateway, rest)
    intents = {}
    for mode, key in keys.items():
        intents[mode] = (await pay(rest, key, 3_000, DISPUTED))["id"]
        await pay(rest, key, 8_000)  # the settlement then has money to pay out

    # The worker's dispute ingestion (every 30 s) opens both disputes; running it here too
    # would race the worker's run.
    for caller in sessions.values():
        await until_disputed(rest, caller)
    now = datetime.now(UTC)
    due_day = datetime(now.year, now.month, now.day, tzinfo=UTC).date() + timedelta(days=2)
    engine = create_engine(gateway.database_url, pool_size=2)
    try:
        await SettlementBatch(SqlUnitOfWorkFactory(engine), RandomIds()).run_settlement(
            due_day, midnight(due_day) + timedelta(minutes=1)
        )
    finally:
        await engine.dispose()
    # The automatic payouts of both settlements (the worker's job may have run them first).
    code, said = paygate(gateway, "payouts", "run")
    assert code == 0, said

    for mode, caller in sessions.items():
        live = mode == "live"
        disputes = (await rest.get("/v1/disputes", headers=caller)).json()["data"]
        assert [(d["payment_intent"], d["livemode"]) for d in disputes] == [(intents[mode], live)]
        settlements = (await rest.get("/v1/settlements", headers=caller)).json()["data"]
        assert [s["livemode"] for s in settlements] == [live], settlements
        one = await rest.get(f"/v1/settlements/{settlements[0]['id']}", headers=caller)
        assert one.json()["livemode"] is live, one.text
        (payout,) = (await rest.get("/v1/payouts", headers=caller)).json()["data"]
        assert (payout["settlement"], payout["livemode"]) == (settlements[0]["id"], live)
        one = await rest.get(f"/v1/payouts/{payout['id']}", headers=caller)
        assert one.json()["livemode"] is live, one.text
        moved = (await rest.get("/v1/balance_transactions", headers=caller)).json()["data"]
        assert {t["type"] for t in moved} >= {"CHARGE", "DISPUTE", "PAYOUT"}, moved
        assert {t["livemode"] for t in moved} == {live}, moved


Headers = dict[str, dict[str, str]]


async def owner_and_keys(gateway: Gateway, rest: httpx.AsyncClient) -> tuple[Headers, Headers]:
    """A new merchant's owner session per mode, and a developer secret key of each mode."""
    signed_in = sign_up(gateway, secrets.token_urlsafe(18))
    session = {
        "Authorization": f"Bearer {signed_in['access_token']}",
        "Paygate-Account": signed_in["accounts"][0]["account"]["id"],
    }
    sessions = {"test": session, "live": session | {"Paygate-Mode": "live"}}
    keys = {}
    for mode in ("test", "live"):
        made = await rest.post(
            "/v1/api_keys",
            json={"type": "SECRET", "role": "DEVELOPER"},
            headers=sessions[mode] | once(),
        )
        assert made.status_code == 200, made.text
        keys[mode] = {"Authorization": f"Bearer {made.json()['secret']}"}
    return sessions, keys


async def until_disputed(rest: httpx.AsyncClient, caller: dict[str, str]) -> None:
    for _ in range(240):
        page = await rest.get("/v1/disputes", headers=caller)
        assert page.status_code == 200, page.text
        if page.json()["data"]:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("the worker opened no dispute")


async def pay(
    rest: httpx.AsyncClient, key: dict[str, str], amount: int, number: str = "4242424242424242"
) -> dict[str, Any]:
    card = {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    token = await rest.post("/v1/tokens", json={"card": card}, headers=key | once())
    assert token.status_code == 200, token.text
    intent = await rest.post(
        "/v1/payment_intents", json={"amount": amount, "currency": "usd"}, headers=key | once()
    )
    assert intent.status_code == 200, intent.text
    confirmed = await rest.post(
        f"/v1/payment_intents/{intent.json()['id']}/confirm",
        json={"payment_method": token.json()["id"]},
        headers=key | once(),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "SUCCEEDED", confirmed.text
    paid: dict[str, Any] = confirmed.json()
    return paid
