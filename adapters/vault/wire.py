"""The vault's objects <-> protobuf, both ways: the public messages (servicers answer with
them) and the internal ones (the gRPC client reads them back into core objects).

Pure translation, no rules. A card number or CVC only ever passes through `card_input`
(request -> core, wrapped in a Secret at once) and `detokenized` (the internal response
-> the acquirer's Card); nothing here puts one into a message that leaves the vault, but
the DetokenizeForPayment response built by `detokenize_response`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from paygate.internal.v1 import vault_pb2 as internal
from paygate.v1 import payment_methods_pb2, tokens_pb2

from core.access.model import Principal
from core.payments.acquirer import Card
from core.payments.ports import CardForPayment
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.model import (
    Brand,
    CardForAuthorization,
    CardSummary,
    Funding,
    Pan,
    PaymentMethod,
    PaymentMethodStatus,
    Token,
    TokenStatus,
)

PM = payment_methods_pb2.PaymentMethod


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def _datetime(ts: Timestamp) -> datetime:
    value: datetime = ts.ToDatetime(tzinfo=UTC)
    return value


# --- public messages ---------------------------------------------------------------------


def card_input(message: tokens_pb2.CardInput) -> CardInput:
    return CardInput(
        number=Secret(message.number),
        exp_month=message.exp_month,
        exp_year=message.exp_year,
        cvc=Secret(message.cvc),
        name=message.name,
    )


def card_summary(card: CardSummary) -> tokens_pb2.Card:
    return tokens_pb2.Card(
        brand=card.brand.value,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=card.fingerprint,
        funding=card.funding.value,
        country=card.country,
    )


def token(value: Token) -> tokens_pb2.Token:
    return tokens_pb2.Token(
        id=value.id,
        card=card_summary(value.card),
        used=value.used,
        created=timestamp(value.created),
        livemode=value.livemode,
        expires_at=timestamp(value.expires_at),
    )


def payment_method(value: PaymentMethod) -> payment_methods_pb2.PaymentMethod:
    return PM(
        id=value.id,
        type="card",
        card=card_summary(value.card),
        customer=value.customer_id,
        status=PM.Status.Value(value.status.value),
        livemode=value.livemode,
        created=timestamp(value.created),
        revoked_at=timestamp(value.revoked_at),
    )


# --- back into core objects (the gRPC client) ------------------------------------------


def summary_from(message: tokens_pb2.Card) -> CardSummary:
    return CardSummary(
        brand=Brand(message.brand),
        last4=message.last4,
        exp_month=message.exp_month,
        exp_year=message.exp_year,
        fingerprint=message.fingerprint,
        funding=Funding(message.funding),
        country=message.country,
    )


def token_from(message: tokens_pb2.Token, merchant_id: str) -> Token:
    """The client-side view of a token: no ciphertext ever crosses the wire."""
    return Token(
        id=message.id,
        merchant_id=merchant_id,
        livemode=message.livemode,
        card=summary_from(message.card),
        encrypted_card=None,
        status=TokenStatus.USED if message.used else TokenStatus.ACTIVE,
        created=_datetime(message.created),
        expires_at=_datetime(message.expires_at),
    )


def payment_method_from(
    message: payment_methods_pb2.PaymentMethod, merchant_id: str
) -> PaymentMethod:
    return PaymentMethod(
        id=message.id,
        merchant_id=merchant_id,
        livemode=message.livemode,
        card=summary_from(message.card),
        encrypted_card=None,
        created=_datetime(message.created),
        customer_id=message.customer,
        status=PaymentMethodStatus(PM.Status.Name(message.status)),
        revoked_at=_datetime(message.revoked_at) if message.HasField("revoked_at") else None,
    )


# --- internal messages -------------------------------------------------------------------


def caller(principal: Principal) -> internal.Caller:
    return internal.Caller(
        merchant_id=principal.merchant_id, livemode=principal.livemode, actor=principal.actor
    )


def principal_from(message: internal.Caller) -> Principal:
    """The principal the API role authenticated. The vault checks no roles: the API role
    already checked the method's permission before forwarding."""
    return Principal(
        merchant_id=message.merchant_id, livemode=message.livemode, actor=message.actor, role=None
    )


def detokenize_response(card: CardForAuthorization) -> internal.DetokenizeForPaymentResponse:
    response = internal.DetokenizeForPaymentResponse(
        number=card.pan.reveal(),
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        holder_name=card.name,
        card=card_summary(card.card),
    )
    if card.cvc is not None:
        response.cvc = card.cvc.reveal()
    return response


def card_for_payment(card: CardForAuthorization) -> CardForPayment:
    return CardForPayment(
        card=Card(
            number=card.pan,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            brand=card.card.brand.value,
            cvc=card.cvc,
            holder_name=card.name,
        ),
        fingerprint=card.card.fingerprint,
        funding=card.card.funding.value,
        country=card.card.country,
        bin=card.pan.bin,
        test_card=card.pan.published_test_card,
    )


def detokenized(response: internal.DetokenizeForPaymentResponse) -> CardForPayment:
    pan = Pan(response.number)
    return CardForPayment(
        card=Card(
            number=pan,
            exp_month=response.exp_month,
            exp_year=response.exp_year,
            brand=response.card.brand,
            cvc=Secret(response.cvc) if response.HasField("cvc") else None,
            holder_name=response.holder_name,
        ),
        fingerprint=response.card.fingerprint,
        funding=response.card.funding,
        country=response.card.country,
        bin=pan.bin,
        test_card=pan.published_test_card,
    )
