"""Confirm, capture, cancel and refunds over a real in-process gRPC server (memory adapters,
the simulators): status codes, ErrorInfo reasons and metadata, BadRequest fields."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from paygate.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
    refunds_pb2,
    refunds_pb2_grpc,
)

from adapters import rich_errors
from core.payments.model import PaymentMethodDetails
from servers.bootstrap.app import App
from servers.grpc import convert
from servers.roles.api import start
from servers.runtime.settings import Settings
from tests.fakes import in_memory_app
from tests.fakes.card_vault import MemoryCardVault

PI = payment_intents_pb2.PaymentIntent
WEB = "https://pay.example.test"


@dataclass
class Api:
    app: App
    intents: payment_intents_pb2_grpc.PaymentIntentServiceStub
    refunds: refunds_pb2_grpc.RefundServiceStub
    keys: api_keys_pb2_grpc.ApiKeyServiceStub
    merchant_id: str
    secret_key: str
    publishable_key: str
    other_secret_key: str
    other_merchant_id: str

    def auth(self, key: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key or self.secret_key}"),)

    def token(self, number: str = "4242424242424242", merchant_id: str | None = None) -> str:
        vault = self.app.card_vault
        assert isinstance(vault, MemoryCardVault)
        return vault.add_token(merchant_id or self.merchant_id, number)

    async def create(
        self, amount: int = 2000, **fields: object
    ) -> payment_intents_pb2.PaymentIntent:
        fields.setdefault("currency", "usd")
        return await self.intents.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=amount, **fields),  # type: ignore[arg-type]
            metadata=self.auth(),
        )

    async def confirm(
        self, intent_id: str, number: str = "4242424242424242", **fields: object
    ) -> payment_intents_pb2.PaymentIntent:
        fields.setdefault("payment_method", self.token(number))
        return await self.intents.ConfirmPaymentIntent(
            payment_intents_pb2.ConfirmPaymentIntentRequest(id=intent_id, **fields),  # type: ignore[arg-type]
            metadata=self.auth(),
        )

    async def get(self, intent_id: str) -> payment_intents_pb2.PaymentIntent:
        return await self.intents.GetPaymentIntent(
            payment_intents_pb2.GetPaymentIntentRequest(id=intent_id), metadata=self.auth()
        )


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    app = in_memory_app(
        settings=Settings(web_base_url=WEB, upi_approval_delay=0, max_failed_attempts=3),
        card_vault=MemoryCardVault(),
    )
    seeded = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(
                app,
                payment_intents_pb2_grpc.PaymentIntentServiceStub(channel),
                refunds_pb2_grpc.RefundServiceStub(channel),
                api_keys_pb2_grpc.ApiKeyServiceStub(channel),
                seeded.merchant.id,
                seeded.secret_key.plaintext,
                seeded.publishable_key.plaintext,
                other.secret_key.plaintext,
                other.merchant.id,
            )
    finally:
        await server.stop(None)
        await app.aclose()


def details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    rich = rich_errors.read(error)
    assert rich.info is not None
    return rich.info, rich.fields


async def fails(
    call: object, code: grpc.StatusCode
) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    assert raised.value.code() == code, raised.value.details()
    info, fields = details(raised.value)
    assert info.domain == "paygate.dev"
    return info, fields


# --- confirm --------------------------------------------------------------------------


async def test_confirm_and_capture_automatically(api: Api) -> None:
    created = await api.create(2500)
    paid = await api.confirm(created.id)
    assert paid.status == PI.SUCCEEDED
    assert (paid.amount_received, paid.amount_capturable, paid.attempts) == (2500, 0, 1)
    assert paid.latest_attempt.startswith("pa_")
    assert paid.payment_method.startswith("tok_")
    assert await api.get(created.id) == paid


async def test_the_intent_describes_the_card_its_latest_attempt_used(api: Api) -> None:
    created = await api.create()
    assert not created.HasField("payment_method_details")
    paid = await api.confirm(created.id, "378282246310005")
    details = paid.payment_method_details
    assert (details.type, details.WhichOneof("details")) == ("card", "card")
    assert (details.card.brand, details.card.last4) == ("amex", "0005")
    assert (await api.get(created.id)).payment_method_details == details
    # Not in the browser's view: the checkout's key reads the status, not the method.
    seen = await api.intents.GetPaymentIntent(
        payment_intents_pb2.GetPaymentIntentRequest(
            id=created.id, client_secret=created.client_secret
        ),
        metadata=api.auth(api.publishable_key),
    )
    assert seen.status == PI.SUCCEEDED and not seen.HasField("payment_method_details")


@pytest.mark.parametrize(
    ("details", "which", "expected"),
    [
        (PaymentMethodDetails("wallet", wallet_provider="paytm"), "wallet",
         {"provider": "paytm", "name": "Paytm"}),
        (PaymentMethodDetails("netbanking", netbanking_bank="HDFC"), "netbanking",
         {"bank": "HDFC", "name": "HDFC Bank"}),
        (PaymentMethodDetails("upi", upi_vpa="buyer@upi"), "upi", {"vpa": "buyer@upi"}),
        # A card whose brand the vault did not know still says it is a card.
        (PaymentMethodDetails("card"), "card", {"brand": "", "last4": ""}),
    ],
)  # fmt: skip
def test_method_details_render_as_the_type_and_its_one_message(
    details: PaymentMethodDetails, which: str, expected: dict[str, str]
) -> None:
    message = convert.payment_method_details(details)
    rendered = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    assert message.WhichOneof("details") == which
    assert rendered == {"type": details.type, which: expected}


@pytest.mark.parametrize(
    ("number", "reason", "decline_code"),
    [
        ("4000000000009995", "CARD_DECLINED", "insufficient_funds"),
        ("4000000000000002", "CARD_DECLINED", "generic_decline"),
        ("4000000000000119", "PROCESSING_ERROR", "processing_error"),
        ("4100000000000019", "RISK_BLOCKED", ""),
    ],
)
async def test_a_failed_confirm_answers_failed_precondition(
    api: Api, number: str, reason: str, decline_code: str
) -> None:
    created = await api.create()
    info, _ = await fails(api.confirm(created.id, number), grpc.StatusCode.FAILED_PRECONDITION)
    assert info.reason == reason
    assert info.metadata.get("decline_code", "") == decline_code
    assert info.metadata["payment_intent"] == created.id
    intent = await api.get(created.id)
    assert intent.status == PI.REQUIRES_PAYMENT_METHOD
    assert (intent.last_payment_error.code, intent.last_payment_error.decline_code) == (
        reason,
        decline_code,
    )
    assert intent.last_payment_error.message


async def test_3ds_asks_for_a_redirect_then_completes(api: Api) -> None:
    created = await api.create()
    pending = await api.confirm(created.id, "4000002760003184")
    assert pending.status == PI.REQUIRES_ACTION
    assert pending.next_action.type == payment_intents_pb2.NextAction.REDIRECT_TO_URL
    assert pending.next_action.url == f"{WEB}/3ds/{pending.latest_attempt}"
    await api.app.payments.complete_action(pending.latest_attempt, True)
    assert (await api.get(created.id)).status == PI.SUCCEEDED


async def test_a_timeout_answers_the_intent_processing(api: Api) -> None:
    created = await api.create()
    answered = await api.confirm(created.id, "4000000000000408")
    assert answered.status == PI.PROCESSING
    await api.app.payments.sync_attempt(answered.latest_attempt)
    assert (await api.get(created.id)).status == PI.SUCCEEDED


async def test_upi_collect_then_the_switch_settles_it(api: Api) -> None:
    created = await api.create(49900, currency="inr", payment_method_types=["upi"])
    pending = await api.intents.ConfirmPaymentIntent(
        payment_intents_pb2.ConfirmPaymentIntentRequest(
            id=created.id,
            upi=payment_intents_pb2.ConfirmPaymentIntentRequest.Upi(vpa="success@upi"),
        ),
        metadata=api.auth(),
    )
    assert pending.status == PI.REQUIRES_ACTION
    assert pending.next_action.type == payment_intents_pb2.NextAction.UPI_COLLECT
    assert pending.next_action.url.startswith("upi://pay?")
    assert pending.next_action.qr_code.startswith("data:image/png;base64,")
    # The switch's completion callback syncs the attempt (no poller needed).
    for _ in range(200):
        intent = await api.get(created.id)
        if intent.status != PI.REQUIRES_ACTION:
            break
        await asyncio.sleep(0.005)
    assert intent.status == PI.SUCCEEDED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"payment_method": ""}, "payment_method"),
        ({"payment_method": "4242424242424242"}, "payment_method"),
        (
            {"payment_method": "", "upi": payment_intents_pb2.ConfirmPaymentIntentRequest.Upi()},
            "upi.vpa",
        ),
    ],
)
async def test_bad_confirm_input_is_invalid_argument(
    api: Api, fields: dict[str, object], field: str
) -> None:
    created = await api.create()
    info, violations = await fails(
        api.confirm(created.id, **fields), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert info.metadata["param"] == field and field in violations
    assert "4242424242424242" not in str(info)


async def test_token_problems(api: Api) -> None:
    token = api.token()
    first, second = await api.create(), await api.create()
    await api.confirm(first.id, payment_method=token)
    info, _ = await fails(
        api.confirm(second.id, payment_method=token), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert info.reason == "TOKEN_ALREADY_USED"
    foreign = api.token(merchant_id=api.other_merchant_id)
    info, _ = await fails(api.confirm(second.id, payment_method=foreign), grpc.StatusCode.NOT_FOUND)
    assert info.metadata["param"] == "payment_method"


async def test_attempts_run_out(api: Api) -> None:
    created = await api.create()
    for _ in range(3):
        await fails(
            api.confirm(created.id, "4000000000000002"), grpc.StatusCode.FAILED_PRECONDITION
        )
    info, _ = await fails(api.confirm(created.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert info.reason == "ATTEMPTS_EXHAUSTED"


async def test_a_publishable_key_confirms_with_the_client_secret_only(api: Api) -> None:
    created = await api.create()
    pk = api.auth(api.publishable_key)
    request = payment_intents_pb2.ConfirmPaymentIntentRequest(
        id=created.id, payment_method=api.token()
    )
    await fails(api.intents.ConfirmPaymentIntent(request, metadata=pk), grpc.StatusCode.NOT_FOUND)
    request.client_secret = created.client_secret
    paid = await api.intents.ConfirmPaymentIntent(request, metadata=pk)
    assert paid.status == PI.SUCCEEDED
    info, _ = await fails(
        api.intents.CapturePaymentIntent(
            payment_intents_pb2.CapturePaymentIntentRequest(id=created.id), metadata=pk
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert info.reason == "PUBLISHABLE_KEY_NOT_ALLOWED"


# --- capture and cancel -----------------------------------------------------------------


async def test_manual_capture_in_part(api: Api) -> None:
    created = await api.create(3000, capture_method=PI.MANUAL)
    held = await api.confirm(created.id)
    assert (held.status, held.amount_capturable) == (PI.REQUIRES_CAPTURE, 3000)
    info, _ = await fails(
        api.intents.CapturePaymentIntent(
            payment_intents_pb2.CapturePaymentIntentRequest(id=created.id, amount_to_capture=3001),
            metadata=api.auth(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (info.reason, info.metadata["param"]) == ("AMOUNT_TOO_LARGE", "amount_to_capture")
    captured = await api.intents.CapturePaymentIntent(
        payment_intents_pb2.CapturePaymentIntentRequest(id=created.id, amount_to_capture=1000),
        metadata=api.auth(),
    )
    assert (captured.status, captured.amount_received, captured.amount_capturable) == (
        PI.SUCCEEDED,
        1000,
        0,
    )


async def test_cancel_and_wrong_states(api: Api) -> None:
    held = await api.confirm((await api.create(capture_method=PI.MANUAL)).id)
    canceled = await api.intents.CancelPaymentIntent(
        payment_intents_pb2.CancelPaymentIntentRequest(
            id=held.id, cancellation_reason="requested_by_customer"
        ),
        metadata=api.auth(),
    )
    assert (canceled.status, canceled.cancellation_reason) == (PI.CANCELED, "REQUESTED_BY_CUSTOMER")
    assert canceled.HasField("canceled_at")
    info, _ = await fails(
        api.intents.CapturePaymentIntent(
            payment_intents_pb2.CapturePaymentIntentRequest(id=held.id), metadata=api.auth()
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (info.reason, info.metadata["status"]) == ("PAYMENT_INTENT_UNEXPECTED_STATE", "CANCELED")
    fresh = await api.create()
    info, violations = await fails(
        api.intents.CancelPaymentIntent(
            payment_intents_pb2.CancelPaymentIntentRequest(id=fresh.id, cancellation_reason="nope"),
            metadata=api.auth(),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations == ["cancellation_reason"]
    await fails(
        api.intents.CancelPaymentIntent(
            payment_intents_pb2.CancelPaymentIntentRequest(id=fresh.id),
            metadata=api.auth(api.other_secret_key),
        ),
        grpc.StatusCode.NOT_FOUND,
    )


# --- refunds --------------------------------------------------------------------------


async def test_refunds(api: Api) -> None:
    paid = await api.confirm((await api.create(2000)).id)
    first = await api.refunds.CreateRefund(
        refunds_pb2.CreateRefundRequest(payment_intent=paid.id, amount=500, reason="duplicate"),
        metadata=api.auth(),
    )
    assert first.id.startswith("re_")
    assert (first.amount, first.currency, first.status, first.reason) == (
        500,
        "USD",
        refunds_pb2.Refund.SUCCEEDED,
        "duplicate",
    )
    info, _ = await fails(
        api.refunds.CreateRefund(
            refunds_pb2.CreateRefundRequest(payment_intent=paid.id, amount=1501),
            metadata=api.auth(),
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert (info.reason, info.metadata["amount_refundable"]) == ("AMOUNT_TOO_LARGE", "1500")
    rest = await api.refunds.CreateRefund(
        refunds_pb2.CreateRefundRequest(payment_intent=paid.id), metadata=api.auth()
    )
    assert rest.amount == 1500
    assert (await api.get(paid.id)).amount_refunded == 2000

    got = await api.refunds.GetRefund(
        refunds_pb2.GetRefundRequest(id=first.id), metadata=api.auth()
    )
    assert got == first
    listed = await api.refunds.ListRefunds(
        refunds_pb2.ListRefundsRequest(payment_intent=paid.id, limit=1), metadata=api.auth()
    )
    assert ([r.id for r in listed.data], listed.has_more) == ([rest.id], True)
    await fails(
        api.refunds.GetRefund(
            refunds_pb2.GetRefundRequest(id=first.id), metadata=api.auth(api.other_secret_key)
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_refund_input_and_permissions(api: Api) -> None:
    info, violations = await fails(
        api.refunds.CreateRefund(
            refunds_pb2.CreateRefundRequest(payment_intent="", amount=-5), metadata=api.auth()
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations == ["payment_intent", "amount"]
    staff = await api.keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(type=api_keys_pb2.ApiKey.SECRET, role=api_keys_pb2.STAFF),
        metadata=api.auth(),
    )
    info, _ = await fails(
        api.refunds.CreateRefund(
            refunds_pb2.CreateRefundRequest(payment_intent="pi_x"),
            metadata=api.auth(staff.secret),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert info.metadata["permission"] == "refunds:write"
    await api.refunds.ListRefunds(refunds_pb2.ListRefundsRequest(), metadata=api.auth(staff.secret))
    info, _ = await fails(
        api.refunds.ListRefunds(
            refunds_pb2.ListRefundsRequest(), metadata=api.auth(api.publishable_key)
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
