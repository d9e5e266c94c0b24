"""What confirm tells the risk engine about a payment, and what it does with the answer.

The engine sees the vault's facts about the card (its CardProfile: the application zone
never holds the number). The shopper's address is a signal only when the shopper's browser
confirms (a publishable key): a secret-key confirm comes from the merchant's server.
"""

from __future__ import annotations

from core.access.model import Principal
from core.payments.model import ErrorCode, PaymentError, PaymentIntent
from core.payments.ports import CardProfile
from core.risk.model import CardFacts, PaymentSignals
from core.shared.money import Money

RISK_BLOCKED = PaymentError(
    ErrorCode.RISK_BLOCKED, "", "The payment was blocked as likely fraudulent."
)
MAX_DEVICE_FINGERPRINT = 128


def signals_of(
    intent: PaymentIntent,
    caller: Principal,
    card: CardProfile | None,
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


def card_facts(card: CardProfile) -> CardFacts:
    return CardFacts(
        bin=card.iin,
        last4=card.last4,
        brand=card.brand,
        fingerprint=card.fingerprint,
        funding=card.funding,
        country=card.country,
        test_card=card.test_card,
    )
