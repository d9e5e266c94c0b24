"""Builders shared by the contract tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.access.model import Merchant
from core.payments.model import (
    AttemptStatus,
    CaptureMethod,
    PaymentAttempt,
    PaymentIntent,
    Refund,
    RefundStatus,
)
from core.shared.ports import IdGenerator
from core.unit_of_work import UnitOfWorkFactory

# Microsecond precision on purpose: PostgreSQL keeps microseconds, so values must survive
# the round trip unchanged.
T0 = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def add_merchant(uow_factory: UnitOfWorkFactory, ids: IdGenerator) -> str:
    merchant = Merchant(id=ids.new("acct"), name="Contract Test Ltd", created=T0)
    async with uow_factory() as uow:
        await uow.merchants.add(merchant)
        await uow.commit()
    return merchant.id


def new_intent(
    ids: IdGenerator, merchant_id: str, *, amount: int = 2000, at: datetime = T0, **fields: Any
) -> PaymentIntent:
    """A fresh intent (status REQUIRES_PAYMENT_METHOD, one pending event); `fields` override."""
    intent_id = ids.new("pi")
    intent = PaymentIntent.create(
        id=intent_id,
        merchant_id=merchant_id,
        amount=amount,
        currency="EUR",
        capture_method=CaptureMethod.AUTOMATIC,
        client_secret=f"{intent_id}_secret_{ids.secret(18)}",
        livemode=False,
        created=at,
        actor="key_contract",
    )
    for name, value in fields.items():
        setattr(intent, name, value)
    return intent


async def add_intent(
    uow_factory: UnitOfWorkFactory, ids: IdGenerator, merchant_id: str, **fields: Any
) -> PaymentIntent:
    intent = new_intent(ids, merchant_id, **fields)
    async with uow_factory() as uow:
        await uow.payment_intents.add(intent)
        await uow.payment_events.append(intent.pull_events())
        await uow.commit()
    return intent


def new_attempt(
    ids: IdGenerator, intent: PaymentIntent, *, at: datetime = T0, **fields: Any
) -> PaymentAttempt:
    """A PROCESSING card attempt of `intent`; `fields` override."""
    attempt = PaymentAttempt(
        id=ids.new("pa"),
        merchant_id=intent.merchant_id,
        payment_intent_id=intent.id,
        amount=intent.amount,
        currency=intent.currency,
        status=AttemptStatus.PROCESSING,
        payment_method_type="card",
        acquirer="card_network",
        created=at,
        updated_at=at,
    )
    for name, value in fields.items():
        setattr(attempt, name, value)
    return attempt


async def add_attempt(
    uow_factory: UnitOfWorkFactory, ids: IdGenerator, intent: PaymentIntent, **fields: Any
) -> PaymentAttempt:
    attempt = new_attempt(ids, intent, **fields)
    async with uow_factory() as uow:
        await uow.payment_attempts.add(attempt)
        await uow.commit()
    return attempt


def new_refund(
    ids: IdGenerator,
    attempt: PaymentAttempt,
    *,
    amount: int = 500,
    at: datetime = T0,
    **fields: Any,
) -> Refund:
    refund = Refund(
        id=ids.new("re"),
        merchant_id=attempt.merchant_id,
        payment_intent_id=attempt.payment_intent_id,
        attempt_id=attempt.id,
        amount=amount,
        currency=attempt.currency,
        status=RefundStatus.PENDING,
        created=at,
        updated_at=at,
    )
    for name, value in fields.items():
        setattr(refund, name, value)
    return refund
