"""The edge end to end, on one gateway with TLS at Envoy and a mail server:

- REST over https (HTTP/2 by ALPN, and HTTP/1.1) and native gRPC over TLS, both verified
  against the CA that `paygate tls selfsigned` wrote;
- a key restricted to 127.0.0.1 works from there, is refused from 127.0.0.2 (another
  loopback address) with PERMISSION_DENIED, and the refusal is in the audit log;
- a receipt reaches the test SMTP server (aiosmtpd on loopback) with the right amount,
  the card's brand and last four, and no card number; a refund sends a second one.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
from aiosmtpd.controller import Controller
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from servers.runtime.tls import selfsigned
from tests.databases import fresh_database
from tests.e2e.conftest import free_port, running_gateway
from tests.e2e.gateway import Gateway

PAN = "4242424242424242"
SHOPPER = "shopper@example.test"


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} emails arrived"
        return self.messages


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    handler = Inbox(free_port())
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return selfsigned(tmp_path_factory.mktemp("tls")).ca.parent


@pytest.fixture(scope="module")
async def edge_database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """Its own: this gateway's acquirer role keeps books the session gateway's does not
    (its payments would be differences in that gateway's reconciliation)."""
    async with fresh_database(postgres_admin_url, "paygate_edge") as url:
        yield url


@pytest.fixture(scope="module")
def edge(edge_database_url: str, inbox: Inbox, tls_dir: Path, redis_url: str) -> Iterator[Gateway]:
    with running_gateway(
        edge_database_url,
        redis_url=redis_url,
        demo_shop=True,
        tls_cert_file=str(tls_dir / "cert.pem"),
        tls_key_file=str(tls_dir / "key.pem"),
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_from="Test Bakery <receipts@bakery.test>",
    ) as running:
        yield running


def client(edge: Gateway, tls_dir: Path, key: str, *, source: str = "127.0.0.1",
           http2: bool = True) -> httpx.Client:  # fmt: skip
    verify = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    transport = httpx.HTTPTransport(verify=verify, http2=http2, local_address=source)
    return httpx.Client(
        base_url=edge.rest_url,
        transport=transport,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def idempotent() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def paid_intent(http: httpx.Client, edge: Gateway, tls_dir: Path, amount: int) -> dict[str, Any]:
    intent = http.post("/v1/payment_intents", headers=idempotent(), json={
        "amount": amount, "currency": "eur", "receipt_email": SHOPPER})  # fmt: skip
    assert intent.status_code == 200, intent.text
    with client(edge, tls_dir, edge.publishable_key) as browser:
        token = browser.post("/v1/tokens", headers=idempotent(), json={"card": {
            "number": PAN, "exp_month": 12, "exp_year": 2040, "cvc": "123"}})  # fmt: skip
    assert token.status_code == 200, token.text
    confirmed = http.post(
        f"/v1/payment_intents/{intent.json()['id']}/confirm",
        headers=idempotent(),
        json={"payment_method": token.json()["id"]},
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "SUCCEEDED"
    result: dict[str, Any] = confirmed.json()
    return result


def test_rest_over_https_speaks_http2_and_http1(edge: Gateway, tls_dir: Path) -> None:
    assert edge.rest_url.startswith("https://127.0.0.1:")
    for http2, version in ((True, "HTTP/2"), (False, "HTTP/1.1")):
        with client(edge, tls_dir, edge.secret_key, http2=http2) as http:
            response = http.get("/v1/payment_intents", params={"limit": 1})
        assert response.status_code == 200, response.text
        assert response.http_version == version


def test_an_unverified_certificate_is_refused_by_the_client(edge: Gateway) -> None:
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=edge.rest_url) as http:
        http.get("/v1/payment_intents")


def test_grpc_over_tls(edge: Gateway, tls_dir: Path) -> None:
    credentials = grpc.ssl_channel_credentials(root_certificates=(tls_dir / "ca.pem").read_bytes())
    with grpc.secure_channel(edge.grpc_target, credentials) as channel:
        stub = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
        intent = stub.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=1000, currency="usd"),
            metadata=(("authorization", f"Bearer {edge.secret_key}"),
                      ("idempotency-key", uuid.uuid4().hex)),
            timeout=30,
        )  # fmt: skip
    assert intent.id.startswith("pi_") and intent.amount == 1000


def test_a_key_is_refused_outside_its_networks_and_the_refusal_is_audited(
    edge: Gateway, tls_dir: Path
) -> None:
    with client(edge, tls_dir, edge.secret_key) as admin:
        networks = ["127.0.0.1", "10.0.0.1/8"]
        bad = admin.post("/v1/api_keys", headers=idempotent(),
                         json={"type": "SECRET", "allowed_ips": networks})  # fmt: skip
        assert bad.status_code == 400, bad.text
        assert "allowed_ips[1]" in bad.text
        created = admin.post("/v1/api_keys", headers=idempotent(),
                             json={"type": "SECRET", "allowed_ips": ["127.0.0.1/32"]})  # fmt: skip
        assert created.status_code == 200, created.text
        key = created.json()
        assert key["allowed_ips"] == ["127.0.0.1/32"]

    with client(edge, tls_dir, key["secret"], source="127.0.0.1") as inside:
        seen = inside.get("/v1/payment_intents")
        assert seen.status_code == 200, seen.text
    with client(edge, tls_dir, key["secret"], source="127.0.0.2") as outside:
        refused = outside.get("/v1/payment_intents")
    assert refused.status_code == 403, refused.text
    assert "IP_NOT_ALLOWED" in refused.text
    assert key["secret"] not in refused.text

    rows = _audit(edge, key["id"])
    assert ("api_key.ip_denied", "DENIED", "127.0.0.2") in rows

    with client(edge, tls_dir, edge.secret_key) as admin:
        widened = admin.post(f"/v1/api_keys/{key['id']}", headers=idempotent(),
                             json={"allowed_ips": ["127.0.0.1/32", "127.0.0.2/32"]})  # fmt: skip
    assert widened.status_code == 200, widened.text
    # Every API process reads the key again within its cache's 5 seconds.
    with client(edge, tls_dir, key["secret"], source="127.0.0.2") as outside:
        for _ in range(100):
            if outside.get("/v1/payment_intents").status_code == 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the widened key was still refused from 127.0.0.2")


def _audit(edge: Gateway, key_id: str) -> list[tuple[str, str, str]]:
    import asyncio

    async def read() -> list[tuple[str, str, str]]:
        url = edge.database_url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT action, outcome, origin FROM audit_events WHERE target = $1", key_id
            )
        finally:
            await connection.close()
        return [(r["action"], r["outcome"], r["origin"]) for r in rows]

    return asyncio.run(read())


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def test_a_receipt_reaches_the_mail_server_with_the_amount_and_no_card_number(
    edge: Gateway, tls_dir: Path, inbox: Inbox
) -> None:
    before = len(inbox.messages)
    with client(edge, tls_dir, edge.secret_key) as http:
        intent = paid_intent(http, edge, tls_dir, 2500)
        [receipt] = [m for m in inbox.wait_for(before + 1)[before:]
                     if intent["id"] in _body(m, "plain")]  # fmt: skip
        assert receipt["To"] == SHOPPER
        assert receipt["From"] == "Test Bakery <receipts@bakery.test>"
        assert receipt["Subject"].startswith("Your receipt from ")
        text, html = _body(receipt, "plain"), _body(receipt, "html")
        for body in (text, html):
            assert "€25.00" in body
            assert "Visa ending in 4242" in body
            assert PAN not in body and "4242 4242" not in body
        assert PAN not in receipt.as_string()

        refund = http.post("/v1/refunds", headers=idempotent(),
                           json={"payment_intent": intent["id"], "amount": 700})  # fmt: skip
        assert refund.status_code == 200, refund.text
        refunded = [m for m in inbox.wait_for(before + 2)[before:]
                    if refund.json()["id"] in _body(m, "plain")]  # fmt: skip
        assert len(refunded) == 1
        assert "€7.00" in _body(refunded[0], "plain")
    # One receipt per event: nothing else about this intent arrives.
    time.sleep(3)
    about = [m for m in inbox.messages if intent["id"] in _body(m, "plain")]
    assert len(about) == 2


def test_the_merchant_cli_over_tls(edge: Gateway, tls_dir: Path) -> None:
    env = {
        **os.environ,
        "PAYGATE_API_URL": f"https://{edge.grpc_target}",
        "PAYGATE_CA_FILE": str(tls_dir / "ca.pem"),
        "PAYGATE_API_KEY": edge.secret_key,
        "PAYGATE_CONFIG": str(tls_dir / "no-config.json"),
    }
    paygate = str(Path(sys.executable).with_name("paygate"))
    created = subprocess.run(
        [paygate, "payments", "create", "--amount", "900", "--currency", "usd", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["amount"] == "900"
    unverified = subprocess.run(
        [paygate, "payments", "list"], env={**env, "PAYGATE_CA_FILE": ""},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unverified.returncode == 1 and "cannot reach the gateway" in unverified.stderr


def test_the_demo_shop_pays_through_the_tls_listener(edge: Gateway) -> None:
    created = httpx.post(f"{edge.demo_url}/create-payment-intent", timeout=30)
    assert created.status_code == 200, created.text
    assert created.json()["client_secret"].startswith("pi_")
