"""What the payments context's events mean for the ledger (core.payments.ports.Bookkeeping).

Payments knows nothing of accounts; it hands each transaction's events here, inside that
transaction, and the money they moved is posted with them or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.ledger.hooks import LedgerHooks
from core.payments.model import EventKind, PaymentEvent, Status
from core.unit_of_work import NOTHING_SAVED, Saved, UnitOfWork


class LedgerBookkeeping:
    def __init__(self, hooks: LedgerHooks) -> None:
        self._hooks = hooks

    async def record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        for event in events:
            if event.kind is EventKind.STATUS_CHANGED:
                if event.to_status is Status.SUCCEEDED and event.amount:
                    await self._captured(uow, event, saved)
            elif event.kind is EventKind.REFUND_PENDING:
                await self._refund_sent(uow, event)
            elif event.kind is EventKind.REFUND_SUCCEEDED:
                await self._hooks.on_refund_succeeded(
                    uow, event.merchant_id, event.object_id, event.occurred_at
                )
            elif event.kind is EventKind.REFUND_FAILED:
                await self._hooks.on_refund_failed(
                    uow, event.merchant_id, event.object_id, event.occurred_at
                )

    async def _captured(self, uow: UnitOfWork, event: PaymentEvent, saved: Saved) -> None:
        attempt = saved.attempt_of(event.object_id) or await uow.payment_attempts.get(
            event.object_id
        )
        if attempt is None or event.amount is None:
            raise LookupError(f"capture event of {event.payment_intent_id} names no attempt")
        intent = saved.intent_of(event.payment_intent_id) or await uow.payment_intents.get(
            event.merchant_id, event.payment_intent_id
        )
        if intent is None:
            raise LookupError(f"capture event names a missing intent {event.payment_intent_id}")
        await self._hooks.on_capture(
            uow,
            event.merchant_id,
            event.payment_intent_id,
            event.amount,
            attempt.currency,
            attempt.payment_method_type,
            event.occurred_at,
            capture_reference=attempt.capture_reference,
            livemode=intent.livemode,
        )

    async def _refund_sent(self, uow: UnitOfWork, event: PaymentEvent) -> None:
        refund = await uow.refunds.get(event.merchant_id, event.object_id)
        if refund is None:
            raise LookupError(f"refund event names a missing refund {event.object_id}")
        await self._hooks.on_refund(
            uow,
            event.merchant_id,
            event.payment_intent_id,
            refund.id,
            refund.amount,
            refund.currency,
            event.occurred_at,
        )
