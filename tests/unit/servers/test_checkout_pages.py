"""The 3-D Secure challenge pages: HTML rendering, form parsing, and CheckoutPageService
over a real in-process gRPC server shaped like the web role (the pages and health only)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from google.api import httpbody_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from paygate.v1 import (
    checkout_pages_pb2,
    checkout_pages_pb2_grpc,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
)

from core.access.model import Principal
from core.access.roles import Role
from core.payments.challenges import Challenge, ChallengeAnswer, ChallengeState
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import Status
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import InvalidArgument
from core.shared.money import Money
from servers.bootstrap.app import App
from servers.roles.api import PAGE_SERVICES, SERVICES, api_services, start
from servers.roles.web import pages
from servers.roles.web.servicer import outcome_of
from servers.runtime.settings import Settings
from tests.fakes import in_memory_app
from tests.fakes.card_vault import MemoryCardVault

FORM = "application/x-www-form-urlencoded"
PENDING = Challenge(
    attempt_id="pa_01abc",
    state=ChallengeState.PENDING,
    merchant_name="Corner Shop",
    amount=Money(4200, "EUR"),
    card_brand="visa",
    card_last4="3184",
    payment_intent_id="pi_01abc",
    return_url="https://shop.example/done?order=7",
)


def done(state: ChallengeState, **fields: str) -> Challenge:
    return replace(PENDING, state=state, **fields)  # type: ignore[arg-type]


# --- rendering -------------------------------------------------------------------------


def test_the_challenge_page_names_merchant_amount_and_card_and_posts_back() -> None:
    html = pages.challenge_page(PENDING).html().decode()
    assert html.startswith("<!doctype html>")
    assert "Corner Shop" in html and "42.00 EUR" in html and "VISA •••• 3184" in html
    assert '<form method="post" action="pa_01abc">' in html
    assert 'name="outcome" value="complete">Complete</button>' in html
    assert 'name="outcome" value="fail">Fail</button>' in html
    assert "<script" not in html and "http-equiv" not in html


def test_everything_shown_is_escaped() -> None:
    hostile = done(
        ChallengeState.PENDING,
        merchant_name="<script>alert(1)</script>",
        description='"><img src=x onerror=alert(1)>',
    )
    html = pages.challenge_page(hostile).html().decode()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&quot;&gt;&lt;img" in html


def test_the_result_sends_the_browser_back_with_the_outcome() -> None:
    page = pages.answer_page(ChallengeAnswer(done(ChallengeState.APPROVED), accepted=True))
    target = urlsplit(page.redirect_to)
    assert (target.scheme, target.netloc, target.path) == ("https", "shop.example", "/done")
    assert parse_qs(target.query) == {
        "order": ["7"],
        "payment_intent": ["pi_01abc"],
        "redirect_status": ["succeeded"],
    }
    html = page.html().decode()
    assert "Payment authenticated" in html
    assert f'content="{pages.REDIRECT_DELAY};url=https://shop.example/done?order=7&amp;' in html
    assert "Return to Corner Shop" in html


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "data:text/html,<b>x</b>", "//shop.example/x", "shop.example", ""],
)
def test_only_http_return_urls_are_followed(url: str) -> None:
    page = pages.answer_page(
        ChallengeAnswer(done(ChallengeState.FAILED, return_url=url), accepted=True)
    )
    assert page.redirect_to == ""
    html = page.html().decode()
    assert "javascript:" not in html and "<a " not in html
    assert "You can close this window." in html


def test_a_challenge_no_longer_pending_says_so() -> None:
    page = pages.challenge_page(done(ChallengeState.CANCELED))
    html = page.html().decode()
    assert "no longer pending" in html and "Payment canceled" in html
    assert "<form" not in html
    assert parse_qs(urlsplit(page.redirect_to).query)["redirect_status"] == ["canceled"]
    unknown = pages.challenge_page(Challenge("pa_x<b>", ChallengeState.UNKNOWN)).html().decode()
    assert "No such authentication" in unknown and "pa_x" not in unknown


# --- the form ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "passed"), [(b"outcome=complete", True), (b"outcome=fail", False)]
)
def test_the_form_says_complete_or_fail(data: bytes, passed: bool) -> None:
    form = httpbody_pb2.HttpBody(content_type=f"{FORM}; charset=UTF-8", data=data)
    assert outcome_of(form) is passed


@pytest.mark.parametrize(
    ("content_type", "data", "field"),
    [
        ("application/json", b'{"outcome": "complete"}', "form"),
        ("", b"outcome=complete", "form"),
        (FORM, b"", "form.outcome"),
        (FORM, b"outcome=maybe", "form.outcome"),
        (FORM, b"outcome=complete&outcome=fail", "form.outcome"),
        (FORM, b"\xff\xfe", "form.outcome"),
    ],
)
def test_anything_else_is_invalid(content_type: str, data: bytes, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        outcome_of(httpbody_pb2.HttpBody(content_type=content_type, data=data))
    assert raised.value.violations[0].field == field


# --- over gRPC, as the web role serves it ----------------------------------------------


@dataclass
class Web:
    app: App
    channel: grpc.aio.Channel
    pages: checkout_pages_pb2_grpc.CheckoutPageServiceStub
    merchant_id: str

    async def challenged(self, **fields: object) -> payment_intents_pb2.PaymentIntent:
        """An intent waiting for its 3-D Secure challenge, made with the use-cases."""
        caller = Principal(self.merchant_id, False, "key_test", Role.ADMIN)
        intent = await self.app.payment_intents.create(
            caller,
            CreatePaymentIntent(amount=4200, currency="eur", **fields),  # type: ignore[arg-type]
        )
        vault = self.app.card_vault
        assert isinstance(vault, MemoryCardVault)
        token = vault.add_token(self.merchant_id, "4000002760003184")
        confirmed = await self.app.payments.confirm(caller, intent.id, ConfirmPaymentIntent(token))
        assert confirmed.status is Status.REQUIRES_ACTION
        return payment_intents_pb2.PaymentIntent(
            id=confirmed.id, latest_attempt=confirmed.latest_attempt
        )

    async def status(self, intent_id: str) -> Status:
        caller = Principal(self.merchant_id, False, "key_test", Role.ADMIN)
        return (await self.app.payment_intents.get(caller, intent_id)).status


@pytest.fixture
async def web() -> AsyncIterator[Web]:
    app = in_memory_app(card_vault=MemoryCardVault())
    seeded = await app.api_keys.seed_merchant("Corner Shop")
    server, _, port = await start(app, "127.0.0.1:0", PAGE_SERVICES)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Web(
                app,
                channel,
                checkout_pages_pb2_grpc.CheckoutPageServiceStub(channel),
                seeded.merchant.id,
            )
    finally:
        await server.stop(None)
        await app.aclose()


async def test_the_page_is_html_with_its_security_headers_and_no_credential(web: Web) -> None:
    intent = await web.challenged()
    call = web.pages.GetChallengePage(
        checkout_pages_pb2.GetChallengePageRequest(attempt=intent.latest_attempt)
    )
    page = await call
    assert page.content_type == "text/html; charset=utf-8"
    assert b"Corner Shop" in page.data and b"42.00 EUR" in page.data
    headers = dict(await call.initial_metadata())
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert "form-action 'self'" in headers["content-security-policy"]


async def test_submitting_the_form_completes_the_payment(web: Web) -> None:
    intent = await web.challenged(return_url="https://shop.example/back")
    form = httpbody_pb2.HttpBody(content_type=FORM, data=b"outcome=complete")
    page = await web.pages.SubmitChallenge(
        checkout_pages_pb2.SubmitChallengeRequest(attempt=intent.latest_attempt, form=form)
    )
    assert b"Payment authenticated" in page.data
    assert b"redirect_status=succeeded" in page.data
    assert await web.status(intent.id) is Status.SUCCEEDED
    again = await web.pages.SubmitChallenge(
        checkout_pages_pb2.SubmitChallengeRequest(attempt=intent.latest_attempt, form=form)
    )
    assert b"no longer pending" in again.data
    shown = await web.pages.GetChallengePage(
        checkout_pages_pb2.GetChallengePageRequest(attempt=intent.latest_attempt)
    )
    assert b"no longer pending" in shown.data and b"<form" not in shown.data


async def test_failing_the_challenge_declines_the_payment(web: Web) -> None:
    intent = await web.challenged()
    form = httpbody_pb2.HttpBody(content_type=FORM, data=b"outcome=fail")
    page = await web.pages.SubmitChallenge(
        checkout_pages_pb2.SubmitChallengeRequest(attempt=intent.latest_attempt, form=form)
    )
    assert b"Payment failed" in page.data
    assert await web.status(intent.id) is Status.REQUIRES_PAYMENT_METHOD


async def test_a_bad_form_is_invalid_argument_and_changes_nothing(web: Web) -> None:
    intent = await web.challenged()
    form = httpbody_pb2.HttpBody(content_type=FORM, data=b"outcome=yes")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await web.pages.SubmitChallenge(
            checkout_pages_pb2.SubmitChallengeRequest(attempt=intent.latest_attempt, form=form)
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert await web.status(intent.id) is Status.REQUIRES_ACTION


async def test_an_unknown_attempt_gets_a_page_not_an_error(web: Web) -> None:
    page = await web.pages.GetChallengePage(
        checkout_pages_pb2.GetChallengePageRequest(attempt="pa_01nosuchattempt")
    )
    assert b"No such authentication" in page.data


async def test_the_web_role_serves_the_pages_and_health_only(web: Web) -> None:
    health = health_pb2_grpc.HealthStub(web.channel)
    response = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(web.channel)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await intents.GetPaymentIntent(payment_intents_pb2.GetPaymentIntentRequest(id="pi_1"))
    assert raised.value.code() is grpc.StatusCode.UNIMPLEMENTED


def test_without_a_web_role_the_api_serves_the_pages() -> None:
    assert api_services(Settings()) == SERVICES
    assert api_services(Settings(web_port=0)) == SERVICES + PAGE_SERVICES
