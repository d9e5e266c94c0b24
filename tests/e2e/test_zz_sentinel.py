"""After the rest of the e2e suite (pytest runs this module last): no card number that any
test sent, nor a fresh sentinel card paid with here, is anywhere it must never be: the
processes' log lines, any table outside the vault's schema (payment events and the audit
log included), or Redis.
"""

from __future__ import annotations

import httpx

from adapters.sql.engine import create_engine
from tests.e2e.gateway import Gateway
from tests.sentinel import Sentinels, scan_redis, scan_tables, tables

# Every card number of API.md's table and the others the e2e tests use.
TEST_CARDS = [
    "4242424242424242", "5555555555554444", "378282246310005", "4000000000000002",
    "4000000000009995", "4000000000000069", "4000000000000127", "4000000000000119",
    "4000002760003184", "4000000000000408", "4100000000000019", "4000000000000259",
]  # fmt: skip


def pay_with(gateway: Gateway, number: str, cvc: str) -> None:
    """Tokenize with the publishable key, then pay, capture and refund with the secret key."""
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    card = {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": cvc}
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        token = http.post("/v1/tokens", json={"card": card}, headers=pk).json()["id"]
        intent = http.post(
            "/v1/payment_intents", json={"amount": 2500, "currency": "usd"}, headers=sk
        ).json()
        confirmed = http.post(
            f"/v1/payment_intents/{intent['id']}/confirm",
            json={"payment_method": token},
            headers=sk,
        )
        assert confirmed.status_code == 200, confirmed.text
        refund = http.post(
            "/v1/refunds", json={"payment_intent": intent["id"], "amount": 500}, headers=sk
        )
        assert refund.status_code == 200, refund.text
        # A card number typed where an id belongs must not come back or be logged either.
        wrong = http.get(f"/v1/payment_intents/{number}", headers=sk)
        assert number not in wrong.text


async def test_no_card_number_leaked_anywhere(gateway: Gateway, redis_url: str) -> None:
    sentinels = Sentinels(pans=list(TEST_CARDS))
    pay_with(gateway, sentinels.pan(), sentinels.cvc())
    pay_with(gateway, sentinels.pan(prefix="37", length=15), sentinels.cvc(digits=4))

    log = (gateway.data_dir / "gateway.log").read_text(errors="replace")
    assert log.count('"msg": "rpc"') >= 5  # the traffic really was logged here
    log_hits = sentinels.hits_in_text(log, "gateway.log")

    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        names = await tables(engine, exclude_schemas=["vault"])
        table_hits, rows = await scan_tables(engine, sentinels, names)
    finally:
        await engine.dispose()
    assert "payment_events" in " ".join(names) and rows > 0

    redis_hits, _ = await scan_redis(redis_url, sentinels)
    assert log_hits + table_hits + redis_hits == [], _context(log, sentinels)


def _context(log: str, sentinels: Sentinels) -> list[str]:
    """The log lines that hold a hit, to say where a leak came from."""
    return [line[:400] for line in log.splitlines() if sentinels.hits_in_text(line, "")]
