"""A merchant with a known payment history, made through the use-cases: what the
analytics tests count (unit tests on the fakes, contract tests on PostgreSQL too)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from core.access.model import Principal
from core.access.roles import Role
from core.payments.errors import PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.refunds import CreateRefund
from core.payments.use_cases import CreatePaymentIntent
from core.shared.secret import Secret
from core.vault.cards import CardInput
from servers.bootstrap.app import App

APPROVED = "4242424242424242"
DECLINED = "4000000000000002"  # generic_decline
INSUFFICIENT = "4000000000009995"  # insufficient_funds
DISPUTED = "4000000000000259"  # approved, then disputed after capture


@dataclass(frozen=True)
class History:
    merchant: Principal
    succeeded: int
    failed: int
    captured: int  # minor units
    refunded: int


async def pay(app: App, merchant: Principal, amount: int, card: str, currency: str = "USD") -> str:
    """One intent confirmed with `card`; its id (declines are swallowed: they count)."""
    assert app.vault is not None
    intent = await app.payment_intents.create(merchant, CreatePaymentIntent(amount, currency))
    token = await app.vault.tokenize_card(
        merchant, CardInput(Secret(card), exp_month=12, exp_year=2040)
    )
    with contextlib.suppress(PaymentFailed):
        await app.payments.confirm(merchant, intent.id, ConfirmPaymentIntent(token.id))
    return intent.id


async def make_history(
    app: App, name: str = "History Ltd", *, livemode: bool = False, merchant_id: str = ""
) -> History:
    """Three approved payments (one refunded in part), two declines, one disputed charge,
    in one mode; of a new merchant, or of `merchant_id`'s when given."""
    if merchant_id:
        merchant = Principal(merchant_id, livemode, "key_history", Role.ADMIN)
    else:
        seeded = await app.api_keys.seed_merchant(name)
        merchant = Principal(seeded.merchant.id, livemode, seeded.secret_key.key.id, Role.ADMIN)
    first = await pay(app, merchant, 10_000, APPROVED)
    await pay(app, merchant, 2_500, APPROVED)
    await pay(app, merchant, 1_234, DECLINED)
    await pay(app, merchant, 999, INSUFFICIENT)
    await pay(app, merchant, 5_000, DISPUTED)
    await app.refunds.create(merchant, CreateRefund(first, amount=3_000))
    await app.disputes.ingest(app.dispute_feed)
    return History(merchant, succeeded=3, failed=2, captured=17_500, refunded=3_000)
