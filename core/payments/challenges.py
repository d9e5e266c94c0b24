"""The 3-D Secure challenge as the shopper's browser sees it: what the page shows, and
the shopper's answer.

A challenge belongs to one card attempt that waits in REQUIRES_ACTION with next_action
REDIRECT_TO_URL. Its page needs no credential: the attempt id in the URL is the
capability, so the page shows only what the shopper already knows (who is asking, how
much, which card) and nothing about the merchant's other objects. Anything else (an
unknown id, a UPI attempt, a challenge already answered or abandoned) gets a Challenge
that says so; answering one that is not pending changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.payments.acquirer import NextActionType
from core.payments.lifecycle import CUSTOMER, PaymentLifecycle
from core.payments.model import AttemptStatus, PaymentAttempt, PaymentIntent
from core.shared.ids import has_prefix
from core.shared.money import Money
from core.unit_of_work import UnitOfWorkFactory


class ChallengeState(StrEnum):
    UNKNOWN = "UNKNOWN"  # no such 3-D Secure challenge
    PENDING = "PENDING"  # waiting for the shopper
    PROCESSING = "PROCESSING"  # answered; the acquirer's verdict is not known yet
    APPROVED = "APPROVED"  # authorized (and captured, or waiting for the merchant)
    FAILED = "FAILED"  # authentication failed or the card was declined
    CANCELED = "CANCELED"  # the merchant canceled the payment meanwhile


_STATES = {
    AttemptStatus.REQUIRES_ACTION: ChallengeState.PENDING,
    AttemptStatus.PROCESSING: ChallengeState.PROCESSING,
    AttemptStatus.AUTHORIZED: ChallengeState.APPROVED,
    AttemptStatus.CAPTURE_PENDING: ChallengeState.APPROVED,
    AttemptStatus.CAPTURED: ChallengeState.APPROVED,
    AttemptStatus.VOID_PENDING: ChallengeState.CANCELED,
    AttemptStatus.VOIDED: ChallengeState.CANCELED,
    AttemptStatus.FAILED: ChallengeState.FAILED,
}


@dataclass(frozen=True)
class Challenge:
    attempt_id: str
    state: ChallengeState
    merchant_name: str = ""
    amount: Money | None = None
    description: str = ""
    card_brand: str = ""
    card_last4: str = ""
    payment_intent_id: str = ""
    # Where the shopper goes back to (the intent's return_url; may be empty).
    return_url: str = ""
    # Why it failed, for the shopper (a decline message); empty otherwise.
    failure_message: str = ""


UNKNOWN = ChallengeState.UNKNOWN


@dataclass(frozen=True)
class ChallengeAnswer:
    challenge: Challenge  # after the answer
    # False when the challenge was not pending: the answer changed nothing.
    accepted: bool


class Challenges:
    def __init__(self, uow: UnitOfWorkFactory, payments: PaymentLifecycle) -> None:
        self._uow = uow
        self._payments = payments

    async def view(self, attempt_id: str) -> Challenge:
        return await self._load(attempt_id)

    async def answer(self, attempt_id: str, passed: bool) -> ChallengeAnswer:
        """The shopper completed (`passed`) or failed the challenge: the acquirer is told
        (PaymentLifecycle.complete_action) and the intent moves on."""
        before = await self._load(attempt_id)
        if before.state is not ChallengeState.PENDING:
            return ChallengeAnswer(before, accepted=False)
        await self._payments.complete_action(attempt_id, passed, actor=CUSTOMER)
        return ChallengeAnswer(await self._load(attempt_id), accepted=True)

    async def _load(self, attempt_id: str) -> Challenge:
        if not has_prefix(attempt_id, "pa"):
            return Challenge(attempt_id, UNKNOWN)
        async with self._uow() as uow:
            attempt = await uow.payment_attempts.get(attempt_id)
            if attempt is None or not _is_3ds(attempt):
                return Challenge(attempt_id, UNKNOWN)
            intent = await uow.payment_intents.get(attempt.merchant_id, attempt.payment_intent_id)
            merchant = await uow.merchants.get(attempt.merchant_id)
        if intent is None:
            return Challenge(attempt_id, UNKNOWN)
        return _challenge(attempt, intent, merchant.name if merchant else "")


def _is_3ds(attempt: PaymentAttempt) -> bool:
    """A card attempt. Once its challenge is over (or if it never had one) the page says
    it is not pending and shows how the attempt ended: the id is known only to the
    merchant and the shopper, and the outcome is theirs."""
    if attempt.payment_method_type != "card":
        return False
    action = attempt.next_action
    return attempt.status is not AttemptStatus.REQUIRES_ACTION or (
        action is not None and action.type == NextActionType.REDIRECT_TO_URL
    )


def _challenge(attempt: PaymentAttempt, intent: PaymentIntent, merchant_name: str) -> Challenge:
    state = _STATES[attempt.status]
    return Challenge(
        attempt_id=attempt.id,
        state=state,
        merchant_name=merchant_name,
        amount=Money(attempt.amount, attempt.currency),
        description=intent.description,
        card_brand=attempt.card_brand,
        card_last4=attempt.card_last4,
        payment_intent_id=intent.id,
        return_url=intent.return_url,
        failure_message=attempt.error.message
        if state is ChallengeState.FAILED and attempt.error
        else "",
    )
