"""Refunds: full, partial, several, never more than what was captured.

Phase 1 locks the intent, checks what is still refundable (amount_received minus
amount_refunded, which counts PENDING refunds) and reserves the refund's amount on the
intent together with the PENDING refund row: concurrent refunds queue on the intent's row
lock, so their sum can never pass what was captured (and a CHECK on the table says so
too). Phase 2 asks the acquirer, with the refund id as its idempotency reference. Phase 3
settles: SUCCEEDED, or FAILED giving the amount back. Without an answer the refund stays
PENDING (it is a valid answer) and recover_stuck_refunds asks again.
"""

from __future__ import annotations

import builtins
import logging
from dataclasses import dataclass
from datetime import timedelta

from core.access.model import Principal
from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    OperationResult,
    RefundRequest,
)
from core.payments.errors import shown
from core.payments.model import PaymentIntent, Refund, RefundReason, RefundStatus
from core.payments.ports import AcquirerRouter
from core.payments.settlement import apply_refund
from core.shared.errors import NotFound, Violations
from core.shared.ids import has_prefix
from core.shared.money import MAX_AMOUNT, Money
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import Bookkeeping, NoBookkeeping, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

SYSTEM_RECOVERY = "system:recovery"


@dataclass(frozen=True)
class CreateRefund:
    payment_intent: str
    amount: int = 0  # 0: everything still refundable
    reason: str = ""  # duplicate | fraudulent | requested_by_customer


class Refunds:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        *,
        acquirers: AcquirerRouter,
        books: Bookkeeping | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._acquirers = acquirers
        self._books = books or NoBookkeeping()

    async def create(self, caller: Principal, cmd: CreateRefund) -> Refund:
        # validate
        violations = Violations()
        if not cmd.payment_intent:
            violations.missing("payment_intent", "is required: the id (pi_...) to refund")
        if cmd.amount < 0 or cmd.amount > MAX_AMOUNT:
            violations.add("amount", "must be a positive integer of minor units")
        reason = ""
        if cmd.reason:
            try:
                reason = RefundReason(cmd.reason.strip().lower()).value
            except ValueError:
                choices = ", ".join(r.value for r in RefundReason)
                violations.add("reason", f"must be one of {choices}")
        violations.raise_if_any()

        # phase 1: load, decide, reserve
        now = self._clock.now()
        async with self._uow() as uow:
            intent = await self._locked_intent(uow, caller, cmd.payment_intent)
            refund = Refund(
                id=self._ids.new("re"),
                merchant_id=intent.merchant_id,
                payment_intent_id=intent.id,
                attempt_id=intent.latest_attempt,
                amount=cmd.amount or intent.amount_refundable,
                currency=intent.currency,
                status=RefundStatus.PENDING,
                created=now,
                updated_at=now,
                reason=reason,
                livemode=intent.livemode,
            )
            intent.reserve_refund(refund, actor=caller.actor, at=now)
            attempt = await uow.payment_attempts.get(intent.latest_attempt)
            if attempt is None:
                raise LookupError(f"payment intent {intent.id} lost its attempt")
            # The refund, the intent and its history lines: one write.
            events = intent.pull_events()
            await uow.refunds.add_with_intent(refund, intent, events)
            await self._books.record(uow, events)
            await uow.commit()

        # phases 2 and 3
        return await self._send(refund, attempt.acquirer, caller.actor)

    async def _send(self, refund: Refund, acquirer_name: str, actor: str) -> Refund:
        request = RefundRequest(
            attempt_reference=refund.attempt_id,
            refund_reference=refund.id,
            merchant_id=refund.merchant_id,
            amount=Money(refund.amount, refund.currency),
            reason=refund.reason,
        )
        answer: OperationResult | AcquirerRejected | None
        try:
            answer = await self._acquirers.acquirer(acquirer_name).refund(request)
        except (AcquirerTimeout, AcquirerUnavailable):
            answer = None  # stays PENDING; asked again with the same reference
        except AcquirerRejected as rejected:
            answer = rejected
        if answer is None:
            return refund
        async with self._uow() as uow:
            intent = await uow.payment_intents.get(
                refund.merchant_id, refund.payment_intent_id, for_update=True
            )
            fresh = await uow.refunds.get(refund.merchant_id, refund.id, for_update=True)
            if intent is None or fresh is None:
                raise LookupError(f"refund {refund.id} or its intent vanished")
            if apply_refund(intent, fresh, answer, actor=actor, at=self._clock.now()):
                events = intent.pull_events()
                await uow.refunds.update_with_intent(fresh, intent, events)
                await self._books.record(uow, events)
                await uow.commit()
        return fresh

    async def get(self, caller: Principal, refund_id: str) -> Refund:
        refund = None
        if has_prefix(refund_id, "re"):
            async with self._uow() as uow:
                refund = await uow.refunds.get(caller.merchant_id, refund_id)
        # Another mode's refund does not exist for the caller, like another merchant's.
        if refund is None or refund.livemode != caller.livemode:
            raise NotFound(f"No such refund: {shown(refund_id)}", metadata={"param": "id"})
        return refund

    async def list(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        payment_intent: str = "",
    ) -> Page[Refund]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            # Filtering by another merchant's (or mode's) intent answers like a missing one,
            # as a get would, rather than with an empty page.
            if payment_intent:
                intent = await uow.payment_intents.get(caller.merchant_id, payment_intent)
                if intent is None or intent.livemode != caller.livemode:
                    raise NotFound(
                        f"No such payment intent: {shown(payment_intent)}",
                        metadata={"param": "payment_intent"},
                    )
            if starting_after:
                cursor = await uow.refunds.get(caller.merchant_id, starting_after)
                if cursor is None or cursor.livemode != caller.livemode:
                    raise unknown_cursor()
            rows = await uow.refunds.list(
                caller.merchant_id,
                livemode=caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
                payment_intent_id=payment_intent or None,
            )
        return Page.from_overfetch(list(rows), limit)

    async def recover_stuck_refunds(
        self, older_than: timedelta, *, limit: int = 100
    ) -> builtins.list[str]:
        """Sends PENDING refunds untouched for `older_than` again (same reference, so the
        acquirer refunds once) and settles them. Returns the ids it looked at."""
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.refunds.claim_pending(now - older_than, now, limit=limit)
            attempts = {
                a.id: a
                for a in await uow.payment_attempts.get_many([r.attempt_id for r in claimed])
            }
            await uow.commit()
        for refund in claimed:
            try:
                await self._send(refund, attempts[refund.attempt_id].acquirer, SYSTEM_RECOVERY)
            except Exception:  # one bad refund must not stop the batch; it comes back
                log.exception("recovery of refund %s failed", refund.id)
        return [r.id for r in claimed]

    async def _locked_intent(
        self, uow: UnitOfWork, caller: Principal, intent_id: str
    ) -> PaymentIntent:
        intent = None
        if has_prefix(intent_id, "pi"):
            intent = await uow.payment_intents.get(caller.merchant_id, intent_id, for_update=True)
        # Another mode's intent does not exist for this caller (docs/dashboard.md).
        if intent is None or intent.livemode != caller.livemode:
            raise NotFound(
                f"No such payment intent: {shown(intent_id)}", metadata={"param": "payment_intent"}
            )
        return intent
