"""The hosted checkout as the web role serves it: the page shell, its security headers,
the built assets and checkout.js, and the intent's checkout_url."""

from __future__ import annotations

import gzip
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from paygate.v1 import checkout_pages_pb2, checkout_pages_pb2_grpc

from core.access.model import Principal
from core.access.roles import Role
from core.account.profile import ProfileUpdate
from core.payments.checkout import CheckoutSession
from core.payments.model import PaymentIntent
from core.payments.use_cases import CreatePaymentIntent
from core.shared.money import CURRENCY_EXPONENTS
from servers.bootstrap.app import App
from servers.grpc import convert
from servers.roles.api import PAGE_SERVICES, start
from servers.roles.web import assets, pages
from tests.fakes import in_memory_app
from tests.fakes.card_vault import MemoryCardVault

ROOT = Path(__file__).resolve().parents[3]
REQUEST = checkout_pages_pb2.GetCheckoutPageRequest
ASSET = checkout_pages_pb2.GetCheckoutAssetRequest


@dataclass
class Web:
    app: App
    pages: checkout_pages_pb2_grpc.CheckoutPageServiceStub
    merchant_id: str
    publishable_key: str

    async def intent(self, **fields: str) -> PaymentIntent:
        caller = Principal(self.merchant_id, False, "key_test", Role.ADMIN)
        return await self.app.payment_intents.create(
            caller,
            CreatePaymentIntent(amount=4200, currency="eur", **fields),  # type: ignore[arg-type]
        )


@pytest.fixture
async def web() -> AsyncIterator[Web]:
    app = in_memory_app(card_vault=MemoryCardVault())
    seeded = await app.api_keys.seed_merchant('Tea & "Scones"')
    server, _, port = await start(app, "127.0.0.1:0", PAGE_SERVICES)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Web(
                app,
                checkout_pages_pb2_grpc.CheckoutPageServiceStub(channel),
                seeded.merchant.id,
                seeded.publishable_key.plaintext,
            )
    finally:
        await server.stop(None)
        await app.aclose()


def data_attributes(html: bytes) -> dict[str, str]:
    found = re.findall(rb' data-([a-z-]+)="([^"]*)"', html)
    return {name.decode(): value.decode() for name, value in found}


async def test_the_page_carries_merchant_key_and_destinations_under_a_strict_csp(
    web: Web,
) -> None:
    intent = await web.intent(success_url="https://shop.example/ok?a=1&b=2")
    call = web.pages.GetCheckoutPage(
        REQUEST(payment_intent=intent.id, client_secret=intent.client_secret)
    )
    page = await call
    assert page.content_type == "text/html; charset=utf-8"
    assert data_attributes(page.data) == {
        "key": web.publishable_key,
        "merchant": "Tea &amp; &quot;Scones&quot;",
        "livemode": "false",
        "success-url": "https://shop.example/ok?a=1&amp;b=2",
        "cancel-url": "",
        "return-url": "",
        "cancellation-reason": "",
        "brand-color": "",
        "logo": "",
    }
    assert b'<script src="assets/page.js" defer></script>' in page.data
    assert b"<style>" not in page.data and b"client_secret" not in page.data
    headers = dict(await call.initial_metadata())
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert headers["referrer-policy"] == "no-referrer"  # the URL holds the client_secret
    assert headers["cache-control"] == "no-store"


async def test_the_page_carries_the_business_profile_and_allows_the_logos_origin(
    web: Web,
) -> None:
    owner = Principal(web.merchant_id, False, "usr_owner", Role.OWNER)
    logo = "https://cdn.scones.example:8443/logo.png"
    await web.app.business_profiles.update(
        owner,
        ProfileUpdate(
            values={"business_name": "Scones & Co", "branding_color": "#FF8800", "logo_url": logo}
        ),
    )
    intent = await web.intent()
    call = web.pages.GetCheckoutPage(
        REQUEST(payment_intent=intent.id, client_secret=intent.client_secret)
    )
    attributes = data_attributes((await call).data)
    assert attributes["merchant"] == "Scones &amp; Co"
    assert (attributes["brand-color"], attributes["logo"]) == ("#ff8800", logo)
    csp = dict(await call.initial_metadata())["content-security-policy"]
    assert "img-src 'self' data: https://cdn.scones.example:8443;" in csp


@pytest.mark.parametrize("secret", ["wrong", ""])
async def test_a_wrong_client_secret_gets_a_page_that_says_so(web: Web, secret: str) -> None:
    intent = await web.intent()
    page = await web.pages.GetCheckoutPage(REQUEST(payment_intent=intent.id, client_secret=secret))
    assert b"This payment link is not valid" in page.data
    assert web.publishable_key.encode() not in page.data and b"Scones" not in page.data


def session(**fields: str) -> CheckoutSession:
    values = {
        "intent_id": "pi_1",
        "merchant_name": "Shop",
        "publishable_key": "pk_test_x",
        "livemode": False,
        "success_url": "",
        "cancel_url": "",
        "return_url": "",
        **fields,
    }
    return CheckoutSession(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", "/relative"])
def test_only_web_urls_reach_the_page(url: str) -> None:
    html = pages.checkout_page(session(success_url=url, cancel_url=url, return_url=url)).html()
    attributes = data_attributes(html)
    assert attributes["success-url"] == attributes["cancel-url"] == attributes["return-url"] == ""


def test_without_a_publishable_key_the_page_says_the_merchant_cannot_take_payments() -> None:
    page = pages.checkout_page(session(publishable_key="", merchant_name="<b>Shop</b>"))
    assert not page.scripted
    assert b"&lt;b&gt;Shop&lt;/b&gt; cannot take payments here yet" in page.html()


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("page.js", "text/javascript; charset=utf-8"),
        ("page.css", "text/css; charset=utf-8"),
        ("checkout.js", "text/javascript; charset=utf-8"),
    ],
)
async def test_the_built_assets_are_served_with_their_type(
    web: Web, name: str, content_type: str
) -> None:
    call = web.pages.GetCheckoutAsset(ASSET(name=name))
    asset = await call
    assert asset.content_type == content_type
    assert asset.data == (assets.STATIC / name).read_bytes()
    assert dict(await call.initial_metadata())["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("name", ["index.html", "../assets.py", "", "config.json"])
async def test_nothing_else_is_served(web: Web, name: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await web.pages.GetCheckoutAsset(ASSET(name=name))
    assert raised.value.code() is grpc.StatusCode.NOT_FOUND


def test_checkout_js_stays_under_15_kb_gzipped() -> None:
    assert len(gzip.compress((assets.STATIC / "checkout.js").read_bytes(), 9)) < 15 * 1024


async def test_the_intent_names_its_checkout_url_and_destinations(web: Web) -> None:
    intent = await web.intent(success_url="https://shop.example/ok", cancel_url="https://x.example")
    message = convert.payment_intent(intent, checkout_base_url="https://pay.example.test")
    assert message.checkout_url == (
        f"https://pay.example.test/checkout/{intent.id}?client_secret={intent.client_secret}"
    )
    assert message.success_url == "https://shop.example/ok"
    assert message.cancel_url == "https://x.example"
    assert web.app.checkout_base_url  # the composition root passes the web role's URL


def test_the_checkouts_currency_exponents_are_the_cores() -> None:
    source = (ROOT / "clients/web/checkout/validators.ts").read_text()
    table = re.search(r"CURRENCY_EXPONENTS: Record<string, number> = \{(.*?)\};", source, re.S)
    assert table is not None
    listed = {code: int(n) for code, n in re.findall(r"([A-Z]{3}): (\d)", table.group(1))}
    assert listed == {code: n for code, n in CURRENCY_EXPONENTS.items() if n != 2}
