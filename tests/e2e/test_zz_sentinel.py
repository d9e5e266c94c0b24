"""After the rest of the e2e suite (pytest runs this module last): no card number that any
test sent, nor a fresh sentinel card paid with here, is anywhere it must never be: the
processes' log lines, any table outside the vault's schema (payment events and the audit
log included), or Redis. And no credential (a secret key, an access or refresh token, a
password) is in any process's log: neither those every test used nor sentinel ones sent
here the hostile ways (with a stray byte, as an id, in a bad header). Every other gateway
the suite starts is scanned the same way when it stops (tests/e2e/conftest.py).
"""

from __future__ import annotations

import http.client
import secrets

import httpx

from adapters.sql.engine import create_engine
from tests.e2e.gateway import Gateway, sign_up
from tests.sentinel import Sentinels, credential_leaks, scan_redis, scan_tables, tables

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


# --- credentials ------------------------------------------------------------------------


def _raw_request(gateway: Gateway, method: str, path: str, headers: dict[str, bytes]) -> int:
    """One request with header values sent byte for byte (httpx refuses non-ASCII)."""
    host, port = gateway.rest_url.removeprefix("http://").rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# Stray bytes a copy-paste puts after a credential: a non-breaking space (Latin-1 and
# UTF-8), a zero-width space, a control character. (Trailing spaces and tabs are not part
# of an HTTP header's value: RFC 9110 strips them before anyone sees the value.)
STRAY = [b"\xa0", b"\xc2\xa0", b"\xe2\x80\x8b", b"\x01", b"\xff"]


def test_no_credential_leaked_anywhere(gateway: Gateway) -> None:
    password = "sentinel-" + secrets.token_urlsafe(18)
    session = sign_up(gateway, password, wrong_login_first=True)
    access, refresh = session["access_token"], session["refresh_token"]

    # A credential with a stray byte is no credential (the key must match exactly), and
    # whichever library sees the header must not log it.
    for credential in (gateway.secret_key, access):
        for stray in STRAY:
            status = _raw_request(
                gateway,
                "GET",
                "/v1/payment_intents",
                {"Authorization": b"Bearer " + credential.encode() + stray},
            )
            # 401, or 400 where the HTTP codec refuses the byte itself; never admitted.
            assert status in (400, 401), (stray, status)
    # The same credentials where they do not belong: an id, a query, a body, a bad header.
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as client:
        sk = {"Authorization": f"Bearer {gateway.secret_key}"}
        client.get(f"/v1/payment_intents/{gateway.secret_key}", headers=sk)
        client.get("/v1/payment_intents", params={"starting_after": access}, headers=sk)
        client.post("/v1/auth/refresh", json={"refresh_token": refresh + "\u0000"})
        client.post("/v1/auth/login", json={"email": password, "password": password + "\u0000"})
        client.get("/v1/members", headers={"Authorization": f"Basic {password}"})

    bad_account = {"Authorization": f"Bearer {access}".encode(), "Paygate-Account": b"\xe9"}
    assert _raw_request(gateway, "GET", "/v1/members", bad_account) == 401

    log = (gateway.data_dir / "gateway.log").read_text(errors="replace")
    assert log.count('"msg": "rpc"') >= 10  # the traffic really was logged here
    leaks = credential_leaks(log, "gateway.log", [password, access, refresh, gateway.secret_key])
    assert leaks == [], "\n".join(leaks[:20])
