"""After the rest of the e2e suite (pytest runs this module last): no card number or CVC
that any test typed, nor a fresh sentinel card paid with here, is anywhere it must never
be: any file the gateway's processes wrote (their log lines, the spans of every process,
the acquirer's books), any table outside the vault's schema (payment events, the outbox,
webhook deliveries and the audit log included), Redis (every key's value read by its type,
streams included), or the webhook bodies as the merchant's endpoint received them. A card
number planted in each of those places first proves that each scan finds one. And no
credential (a secret key, an access or refresh token, a password) is in any process's log:
neither those every test used nor sentinel ones sent here the hostile ways (with a stray
byte, as an id, in a bad header). Every other gateway the suite starts is scanned the same
way when it stops (tests/e2e/conftest.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import redis.asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from tests.e2e.gateway import Gateway, sign_up
from tests.sentinel import (
    Sentinels,
    card_numbers_in,
    credential_leaks,
    cvcs_in,
    scan_files,
    scan_redis,
    scan_tables,
    tables,
)
from tests.webhook_receiver import Receiver

# Every card number of API.md's table; the others any test types are read from the
# sources under tests/ (Python, the browser and SDK scripts).
TEST_CARDS = [
    "4242424242424242", "5555555555554444", "378282246310005", "4000000000000002",
    "4000000000009995", "4000000000000069", "4000000000000127", "4000000000000119",
    "4000002760003184", "4000000000000408", "4100000000000019", "4000000000000259",
]  # fmt: skip
TESTS = Path(__file__).resolve().parents[1]
SOURCES = [
    path
    for path in TESTS.rglob("*")
    if path.suffix in (".py", ".mjs", ".js", ".ts") and path.is_file()
]
CONTROL_SCHEMA = "sentinel_control"
CONTROL_KEY = "paygate:sentinel-control:"


def pay_with(gateway: Gateway, number: str, cvc: str) -> str:
    """Tokenize with the publishable key (and an Idempotency-Key), then pay and refund
    with the secret key; the intent's id."""
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    card = {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": cvc}
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        # With an Idempotency-Key, as the hosted checkout sends one: the key's row (its
        # request hash, the stored answer) is scanned with every other table.
        keyed = {**pk, "Idempotency-Key": f"sentinel-{secrets.token_hex(8)}"}
        token = http.post("/v1/tokens", json={"card": card}, headers=keyed).json()["id"]
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
    return str(intent["id"])


def delivered(receiver: Receiver, intent_ids: list[str], within: float = 60.0) -> bool:
    """The refund's webhook of each intent reached the endpoint (the last event a
    payment above makes)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        bodies, _ = receiver.snapshot()
        refunded = [
            event for event in map(json.loads, bodies) if event.get("type") == "charge.refunded"
        ]
        if all(any(i in json.dumps(event) for event in refunded) for i in intent_ids):
            return True
        time.sleep(0.5)
    return False


@contextlib.asynccontextmanager
async def planted(
    gateway: Gateway, engine: AsyncEngine, redis_url: str, control: Sentinels
) -> AsyncIterator[bytes]:
    """The control card number (and its CVC next to the word cvc) in a log file, a span
    file, a table, three kinds of Redis keys; yields a webhook body holding it. All
    removed again afterwards."""
    pan, cvc = control.pans[0], control.cvcs[0]
    line = json.dumps({"msg": "control", "card": pan, "cvc": cvc})
    files = [gateway.data_dir / "control.log", gateway.data_dir / "spans" / "control-0.jsonl"]
    for path in files:
        path.write_text(line + "\n")
    async with engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {CONTROL_SCHEMA}"))
        await connection.execute(text(f"CREATE TABLE {CONTROL_SCHEMA}.planted (note text)"))
        await connection.execute(
            text(f"INSERT INTO {CONTROL_SCHEMA}.planted VALUES (:note)"), {"note": line}
        )
    client = redis.asyncio.Redis.from_url(redis_url)
    # A long string (which DUMP would compress), a hash and a stream entry.
    await client.set(CONTROL_KEY + "string", ("x" * 200 + pan) * 3)
    await client.hset(CONTROL_KEY + "hash", "card", pan)
    await client.xadd(CONTROL_KEY + "stream", {"card": pan})
    try:
        yield line.encode()
    finally:
        for path in files:
            path.unlink(missing_ok=True)
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {CONTROL_SCHEMA} CASCADE"))
        await client.delete(*(CONTROL_KEY + k for k in ("string", "hash", "stream")))
        await client.aclose()


def spans_of(directory: Path) -> Iterator[dict[str, object]]:
    for path in directory.glob("*.jsonl"):
        for line in path.read_text(errors="replace").splitlines():
            span: dict[str, object] = json.loads(line)
            yield span


async def test_no_card_number_leaked_anywhere(
    gateway: Gateway, redis_url: str, webhook_receiver: Receiver
) -> None:
    typed = card_numbers_in(SOURCES)
    assert set(TEST_CARDS) < set(typed)  # the sources were read
    sentinels = Sentinels(pans=typed, cvcs=cvcs_in(SOURCES))
    intents = [
        pay_with(gateway, sentinels.pan(), sentinels.cvc()),
        pay_with(gateway, sentinels.pan(prefix="37", length=15), sentinels.cvc(digits=4)),
    ]
    assert delivered(webhook_receiver, intents), "the sentinel payments' webhooks never came"
    control = Sentinels()
    while control.pan()[-4:] in {pan[-4:] for pan in sentinels.pans}:
        control.pans.clear()
    control.cvc(digits=4)
    everything = Sentinels(
        pans=[*sentinels.pans, *control.pans], cvcs=[*sentinels.cvcs, *control.cvcs]
    )

    spans = list(spans_of(gateway.data_dir / "spans"))
    services = {str(s.get("resource", {}).get("attributes", {}).get("service.name")) for s in spans}  # type: ignore[union-attr]
    assert {"paygate-api", "paygate-worker", "paygate-web"} <= services, services
    assert any("db.statement" in json.dumps(s.get("attributes")) for s in spans)

    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with planted(gateway, engine, redis_url, control) as planted_body:
            file_hits, files = scan_files(gateway.data_dir, everything)
            names = await tables(engine, exclude_schemas=["vault"])
            table_hits, rows = await scan_tables(engine, everything, names)
            redis_hits, keys = await scan_redis(redis_url, everything)
            bodies, _ = webhook_receiver.snapshot()
            body_hits = [
                hit
                for i, body in enumerate([*bodies, planted_body])
                for hit in everything.hits_in_text(body.decode(errors="replace"), f"webhook {i}")
            ]
    finally:
        await engine.dispose()
    assert "payment_events" in " ".join(names) and "webhook_deliveries" in " ".join(names)
    assert rows > 0 and keys > 0 and files > 2 and len(bodies) > 0
    print(
        f"\nsentinel: {len(everything.pans)} card numbers, {len(everything.cvcs)} CVCs in"
        f" {files} files ({len(spans)} spans), {rows} rows of {len(names)} tables,"
        f" {keys} Redis keys, {len(bodies) + 1} webhook bodies"
    )

    hits = file_hits + table_hits + redis_hits + body_hits
    # The control is found in every place it was planted, its CVC beside it...
    places = [
        "file control.log",
        "file spans/control-0.jsonl",
        f"{CONTROL_SCHEMA}.planted",
        *(f"control:{kind}" for kind in ("string", "hash", "stream")),
        f"webhook {len(bodies)}:",
    ]
    tag = f"card number {control.pans[0][-4:]}"
    for place in places:
        assert any(place in hit and tag in hit for hit in hits), (place, hits)
    assert sum("a CVC next to the word cvc" in hit for hit in hits) >= 4, hits
    # ... and nothing is anywhere else.
    leaks = [hit for hit in hits if not any(place in hit for place in places)]
    log = (gateway.data_dir / "gateway.log").read_text(errors="replace")
    assert log.count('"msg": "rpc"') >= 5  # the traffic really was logged here
    assert leaks == [], (leaks, _context(log, sentinels))


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
