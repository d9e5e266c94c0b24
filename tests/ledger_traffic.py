"""A stand-in for the payment use-cases' capture and refund, for the ledger's unit and
contract tests (tests/unit/ledger, tests/contract, tests/unit/servers/test_grpc_ledger.py):
posting at chosen times, without an API or an acquirer process. The e2e day of traffic
(tests/e2e/test_ledger_e2e.py) goes through the real API instead.

It does what the payment use-cases do, in their order: call the acquirer first (the
card network simulator), then, in one unit of work, move the payment intent and post the
ledger entry through core.ledger.hooks, and commit both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.ledger.hooks import LedgerHooks
from core.ledger.model import JournalEntry
from core.payments.acquirer import (
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    Card,
    OperationStatus,
    RefundRequest,
)
from core.payments.model import CaptureMethod, PaymentIntent, Status
from core.shared.money import Money
from core.shared.ports import IdGenerator
from core.shared.secret import Secret
from core.unit_of_work import UnitOfWorkFactory
from sandbox.acquirer.card_network_simulator import CardNetworkSimulator
from tests.fakes import FixedClock

APPROVED = "4242424242424242"
DISPUTED = "4000000000000259"  # approved, then disputed (fraudulent) after capture


@dataclass(frozen=True)
class Charge:
    merchant_id: str
    payment_intent_id: str
    attempt_reference: str
    capture_reference: str
    amount: Money
    entry: JournalEntry


class PaymentsStandIn:
    def __init__(self, uow: UnitOfWorkFactory, ids: IdGenerator, start: datetime) -> None:
        self._uow = uow
        self._ids = ids
        self.clock = FixedClock(start)
        self.acquirer = CardNetworkSimulator(clock=self.clock)
        self.hooks = LedgerHooks(ids)

    async def charge(
        self,
        merchant_id: str,
        amount: int,
        currency: str,
        *,
        at: datetime,
        card: str = APPROVED,
        livemode: bool = False,
    ) -> Charge:
        self.clock.at = at
        money = Money(amount, currency)
        intent_id = self._ids.new("pi")
        attempt = self._ids.new("pa")
        authorized = await self.acquirer.authorize(
            AuthorizationRequest(
                attempt_reference=attempt,
                merchant_id=merchant_id,
                amount=money,
                source=Card(Secret(card), exp_month=12, exp_year=2099, brand="visa"),
            )
        )
        assert authorized.outcome is AuthorizationOutcome.APPROVED, authorized
        capture_reference = f"{attempt}_cap1"
        captured = await self.acquirer.capture(
            CaptureRequest(attempt, capture_reference, merchant_id, money)
        )
        assert captured.status is OperationStatus.SUCCEEDED, captured
        intent = PaymentIntent.create(
            id=intent_id,
            merchant_id=merchant_id,
            amount=amount,
            currency=currency,
            capture_method=CaptureMethod.AUTOMATIC,
            client_secret=f"{intent_id}_secret_{self._ids.secret(18)}",
            livemode=livemode,
            created=at,
            actor="key_standin",
        )
        intent.transition(Status.PROCESSING, actor="key_standin", at=at)
        intent.transition(Status.SUCCEEDED, actor="key_standin", at=at)
        intent.amount_received = amount
        async with self._uow() as uow:
            await uow.payment_intents.add(intent)
            await uow.payment_events.append(intent.pull_events())
            entry = await self.hooks.on_capture(
                uow,
                merchant_id,
                intent_id,
                amount,
                currency,
                "card",
                at,
                capture_reference=capture_reference,
                livemode=livemode,
            )
            await uow.commit()
        return Charge(merchant_id, intent_id, attempt, capture_reference, money, entry)

    async def refund(self, charge: Charge, amount: int, *, at: datetime) -> str:
        self.clock.at = at
        refund_id = self._ids.new("re")
        money = Money(amount, charge.amount.currency)
        refunded = await self.acquirer.refund(
            RefundRequest(charge.attempt_reference, refund_id, charge.merchant_id, money)
        )
        assert refunded.status is OperationStatus.SUCCEEDED, refunded
        async with self._uow() as uow:
            intent = await uow.payment_intents.get(
                charge.merchant_id, charge.payment_intent_id, for_update=True
            )
            assert intent is not None
            intent.amount_refunded += amount
            await uow.payment_intents.update(intent)
            await self.hooks.on_refund(
                uow,
                charge.merchant_id,
                charge.payment_intent_id,
                refund_id,
                amount,
                money.currency,
                at,
            )
            await self.hooks.on_refund_succeeded(uow, charge.merchant_id, refund_id, at)
            await uow.commit()
        return refund_id
