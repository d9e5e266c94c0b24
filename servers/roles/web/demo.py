"""The demo merchant: a shop's page that takes a payment with checkout.js.

`paygate up` runs it (`paygate serve --role demo`, on 127.0.0.1:<demo_port>) for the
seeded test merchant, whose keys it reads from <data_dir>/seed.json. It is what a
merchant builds, and nothing more: its server creates the payment intent with the secret
key (POST /v1/payment_intents through Envoy) and hands the client_secret to its page; the
page loads checkout.js from the gateway and opens the hosted checkout in a modal. It runs
on an origin of its own, as a merchant's site would, so the postMessage origin checks
are exercised for real.

Not part of the gateway: a minimal HTTP/1.1 server on asyncio streams, one request per
connection, two pages and one JSON endpoint.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import ssl
from dataclasses import dataclass
from html import escape
from pathlib import Path

import httpx

from servers.runtime import logging_setup
from servers.runtime.settings import Settings

PAGES = Path(__file__).resolve().parents[3] / "clients" / "web" / "demo"
# The demo's own page: its script and checkout.js, nothing inline.
CSP = (
    "default-src 'none'; script-src 'self' {gateway}; style-src 'self'; "
    "connect-src 'self'; frame-src {gateway}; base-uri 'none'; form-action 'none'"
)
MAX_REQUEST = 16 * 1024
ORDER = {"amount": 2500, "currency": "eur", "description": "Paygate demo: a pot of tea"}


def own_certificate(settings: Settings) -> ssl.SSLContext | bool:
    """With TLS at Envoy, the demo's server trusts exactly the certificate Envoy serves
    (a development one has no public CA behind it); without, plain HTTP."""
    if not settings.tls:
        return True
    context = ssl.create_default_context(cafile=settings.tls_cert_file)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf itself is the anchor
    return context


@dataclass(frozen=True)
class DemoMerchant:
    gateway_url: str  # Envoy's REST listener
    secret_key: str
    publishable_key: str
    merchant_name: str

    @classmethod
    def from_seed(cls, settings: Settings) -> DemoMerchant:
        seed = json.loads((settings.data_dir / "seed.json").read_text())
        return cls(
            gateway_url=settings.rest_url,
            secret_key=seed["secret_key"],
            publishable_key=seed["publishable_key"],
            merchant_name=seed.get("merchant_name", "Test merchant"),
        )

    def index(self) -> bytes:
        html = (PAGES / "index.html").read_text()
        return (
            html.replace("{{gateway}}", escape(self.gateway_url, quote=True))
            .replace("{{publishable_key}}", escape(self.publishable_key, quote=True))
            .replace("{{merchant}}", escape(self.merchant_name))
            .encode()
        )

    async def create_intent(self, client: httpx.AsyncClient) -> dict[str, str]:
        """What the merchant's server does: create the intent with its secret key."""
        response = await client.post(
            f"{self.gateway_url}/v1/payment_intents",
            json=ORDER,
            headers={
                "Authorization": f"Bearer {self.secret_key}",
                "Idempotency-Key": f"demo_{secrets.token_hex(12)}",
            },
        )
        response.raise_for_status()
        intent = response.json()
        return {"client_secret": intent["client_secret"], "id": intent["id"]}


async def _respond(
    writer: asyncio.StreamWriter, status: str, content_type: str, body: bytes, csp: str = ""
) -> None:
    headers = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "Connection: close",
    ]
    if csp:
        headers.append(f"Content-Security-Policy: {csp}")
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode() + body)
    await writer.drain()


async def handle(
    demo: DemoMerchant,
    client: httpx.AsyncClient,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        if len(head) > MAX_REQUEST:
            return await _respond(writer, "431 Too Large", "text/plain", b"too large")
        method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/":
            csp = CSP.format(gateway=demo.gateway_url)
            await _respond(writer, "200 OK", "text/html; charset=utf-8", demo.index(), csp)
        elif method == "GET" and path in ("/demo.js", "/demo.css"):
            kind = "text/javascript" if path.endswith(".js") else "text/css"
            body = (PAGES / path.lstrip("/")).read_bytes()
            await _respond(writer, "200 OK", f"{kind}; charset=utf-8", body)
        elif method == "POST" and path == "/create-payment-intent":
            try:
                body = json.dumps(await demo.create_intent(client)).encode()
                await _respond(writer, "200 OK", "application/json", body)
            except httpx.HTTPError:
                await _respond(
                    writer, "502 Bad Gateway", "application/json", b'{"error":"gateway"}'
                )
        else:
            await _respond(writer, "404 Not Found", "text/plain", b"not found")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        pass
    finally:
        writer.close()


async def run(settings: Settings, listen: str) -> None:
    """Serves until SIGTERM or SIGINT, then exits 0 like the other roles."""
    logging_setup.configure(settings.log_level)
    demo = DemoMerchant.from_seed(settings)
    host, _, port = listen.rpartition(":")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with httpx.AsyncClient(timeout=30, verify=own_certificate(settings)) as client:
        server = await asyncio.start_server(
            lambda r, w: handle(demo, client, r, w), host or "127.0.0.1", int(port)
        )
        async with server:
            await stop.wait()
