"""The demo shop (servers/roles/web/demo.py) on a real loopback socket; its call to the
gateway goes to a closed loopback port (the browser e2e drives the real one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from servers.roles.web.demo import DemoMerchant, handle

SHOP = DemoMerchant(
    gateway_url="http://127.0.0.1:1",  # nothing listens: the gateway is "down"
    secret_key="sk_test_never_shown",
    publishable_key="pk_test_abc-123",
    merchant_name="Tea <Shop>",
)


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    async with httpx.AsyncClient(timeout=5) as gateway:
        server = await asyncio.start_server(
            lambda r, w: handle(SHOP, gateway, r, w), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            yield f"http://127.0.0.1:{port}"


async def test_the_page_loads_checkout_js_from_the_gateway_with_the_publishable_key(
    shop: str,
) -> None:
    async with httpx.AsyncClient() as client:
        page = await client.get(f"{shop}/")
    assert page.status_code == 200
    assert '<script src="http://127.0.0.1:1/js/v1/checkout.js" defer></script>' in page.text
    assert 'data-publishable-key="pk_test_abc-123"' in page.text
    assert "Tea &lt;Shop&gt;" in page.text
    assert "sk_test_never_shown" not in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self' http://127.0.0.1:1;" in csp and "frame-src http://127.0.0.1:1" in csp


async def test_its_script_and_style_are_served_and_nothing_else(shop: str) -> None:
    async with httpx.AsyncClient() as client:
        script = await client.get(f"{shop}/demo.js")
        style = await client.get(f"{shop}/demo.css")
        missing = await client.get(f"{shop}/seed.json")
    assert script.status_code == 200 and "openCheckout" in script.text
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


async def test_a_gateway_that_does_not_answer_is_a_502_not_a_crash(shop: str) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{shop}/create-payment-intent")
    assert answer.status_code == 502
    assert answer.json() == {"error": "gateway"}
