"""What confirm tells the risk engine about a payment, and what it does with the answer.

The engine sees the vault's facts about the card (CardForPayment without its `card`),
never the number. The shopper's address is a signal only when the shopper's browser
confirms (a publishable key): a secret-key confirm comes from the merchant's server.
"""

from __future__ import annotations

from core.access.model import Principal
from core.payments.model import ErrorCode, PaymentError, PaymentIntent
from core.payments.ports import CardForPayment
from core.risk.model import CardFacts, PaymentSignals
from core.shared.money import Money

RISK_BLOCKED = PaymentError(
    ErrorCode.RISK_BLOCKED, "", "The payment was blocked as likely fraudulent."
)
MAX_DEVICE_FINGERPRINT = 128


def signals_of(
    intent: PaymentIntent,
    caller: Principal,
    card: CardForPayment | None,
    device_fingerprint: str,
) -> PaymentSignals:
    return PaymentSignals(
        merchant_id=intent.merchant_id,
        livemode=intent.livemode,
        amount=Money(intent.amount, intent.currency),
        card=None if card is None else card_facts(card),
        email=intent.receipt_email,
        ip=caller.origin if caller.is_publishable else "",
        device_fingerprint=device_fingerprint,
    )


def card_facts(card: CardForPayment) -> CardFacts:
    return CardFacts(
        bin=card.bin,
        last4=card.card.last4,
        brand=card.card.brand,
        fingerprint=card.fingerprint,
        funding=card.funding,
        country=card.country,
        test_card=card.test_card,
    )
