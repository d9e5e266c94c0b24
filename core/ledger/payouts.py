"""Payouts: money leaves the merchant's available balance for its bank account.

Manual (POST /v1/payouts) and automatic (the daily batch, after each completed
settlement of a merchant on the DAILY schedule: everything available in that currency).
Both debit available under the merchant's debit lock after `decide_payout` approved the
amount against the balance read under that lock, so no payout, and no two concurrent
payouts, take available below zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.access.model import Principal
from core.events.model import EventType
from core.events.ports import NoPublisher, Publisher
from core.ledger.hooks import FixedClock
from core.ledger.model import PayoutSchedule
from core.ledger.records import AutomaticPayout, Payout, PayoutMethod, PayoutStatus, Settlement
from core.ledger.use_cases import Bookkeeper
from core.shared.errors import FailedPrecondition, NotFound, Violations
from core.shared.money import MAX_AMOUNT, UnknownCurrency, normalize_currency
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.shared.text_rules import PAN_IN_TEXT, looks_like_pan
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ["CreatePayout", "Payouts"]


@dataclass(frozen=True)
class CreatePayout:
    amount: int
    currency: str
    description: str = ""


class Payouts:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        events: Publisher | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._events = events or NoPublisher()

    async def create(self, caller: Principal, cmd: CreatePayout) -> Payout:
        violations = Violations()
        if cmd.amount == 0:
            violations.missing("amount", "is required: a positive integer of minor units")
        elif not 0 < cmd.amount <= MAX_AMOUNT:
            violations.add("amount", f"must be a positive integer of at most {MAX_AMOUNT}")
        currency = ""
        if not cmd.currency:
            violations.missing("currency", "is required (an ISO 4217 code such as usd)")
        else:
            try:
                currency = normalize_currency(cmd.currency)
            except UnknownCurrency:
                violations.add("currency", f"{cmd.currency[:8]!r} is not a supported currency")
        if len(cmd.description) > 1000:
            violations.add("description", "may be at most 1000 characters")
        elif looks_like_pan(cmd.description):
            violations.add("description", PAN_IN_TEXT)
        violations.raise_if_any()

        now = self._clock.now()
        async with self._uow() as uow:
            payout = await self._pay(
                uow,
                merchant_id=caller.merchant_id,
                currency=currency,
                amount=cmd.amount,
                method=PayoutMethod.MANUAL,
                now=now,
                description=cmd.description,
                livemode=caller.livemode,
            )
            await uow.commit()
        return payout

    async def get(self, caller: Principal, payout_id: str) -> Payout:
        async with self._uow() as uow:
            found = await uow.payouts.get(caller.merchant_id, payout_id)
        # Another mode's payout does not exist for the caller, like another merchant's.
        if found is None or found.livemode != caller.livemode:
            raise NotFound(f"No such payout: {payout_id[:40]!r}", metadata={"param": "id"})
        return found

    async def list(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        status: PayoutStatus | None = None,
    ) -> Page[Payout]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if starting_after:
                cursor = await uow.payouts.get(caller.merchant_id, starting_after)
                if cursor is None or cursor.livemode != caller.livemode:
                    raise unknown_cursor()
            rows = await uow.payouts.list(
                caller.merchant_id,
                livemode=caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
                status=status,
            )
        return Page.from_overfetch(list(rows), limit)

    async def run_automatic_payouts(self, now: datetime) -> Sequence[Payout]:
        """The daily batch (worker role): marks payouts that arrived as PAID, then pays
        out, after each completed settlement not yet looked at, everything available in
        its currency to a merchant on the DAILY schedule. Settlements are claimed one per
        transaction with FOR UPDATE SKIP LOCKED, so several workers share the work."""
        async with self._uow() as uow:
            for arrived in await uow.payouts.mark_arrived(now):
                await self._events.publish(
                    uow,
                    merchant_id=arrived.merchant_id,
                    type=EventType.PAYOUT_PAID.value,
                    obj=arrived,
                    livemode=arrived.livemode,
                    at=now,
                )
            await uow.commit()
        paid: list[Payout] = []
        while True:
            async with self._uow() as uow:
                settlement = await uow.settlements.claim_payout()
                if settlement is None:
                    return paid
                payout = await self._automatic(uow, settlement, now)
                await uow.commit()
            if payout is not None:
                paid.append(payout)

    async def _automatic(
        self, uow: UnitOfWork, settlement: Settlement, now: datetime
    ) -> Payout | None:
        terms = await uow.merchant_terms.get(settlement.merchant_id)
        if terms.payout_schedule is not PayoutSchedule.DAILY:
            await uow.settlements.set_payout(settlement.id, AutomaticPayout.SKIPPED)
            return None
        try:
            payout = await self._pay(
                uow,
                merchant_id=settlement.merchant_id,
                currency=settlement.currency,
                amount=None,
                method=PayoutMethod.AUTOMATIC,
                now=now,
                minimum=terms.payout_minimum,
                settlement_id=settlement.id,
                livemode=settlement.livemode,
            )
        except FailedPrecondition:  # nothing available, or less than the minimum
            await uow.settlements.set_payout(settlement.id, AutomaticPayout.SKIPPED)
            return None
        await uow.settlements.set_payout(settlement.id, AutomaticPayout.PAID, payout.id)
        return payout

    async def _pay(
        self,
        uow: UnitOfWork,
        *,
        merchant_id: str,
        currency: str,
        amount: int | None,
        method: PayoutMethod,
        now: datetime,
        minimum: int = 1,
        settlement_id: str = "",
        description: str = "",
        livemode: bool = False,
    ) -> Payout:
        payout_id = self._ids.new("po")
        keeper = Bookkeeper(uow.fx_rates, self._ids, FixedClock(now))
        entry = await keeper.payout(
            uow.ledger,
            merchant_id=merchant_id,
            payout_id=payout_id,
            currency=currency,
            amount=amount,
            minimum=minimum,
            livemode=livemode,
        )
        sent = -entry.raw(next(p.account for p in entry.postings if p.amount < 0))
        payout = Payout(
            id=payout_id,
            merchant_id=merchant_id,
            amount=sent,
            currency=currency,
            status=PayoutStatus.IN_TRANSIT,
            method=method,
            created=now,
            arrival_date=Payout.arrival_for(now),
            balance_transaction_id=entry.id,
            settlement_id=settlement_id,
            description=description,
            livemode=livemode,
        )
        await uow.payouts.add(payout)
        await self._events.publish(
            uow,
            merchant_id=merchant_id,
            type=EventType.PAYOUT_CREATED.value,
            obj=payout,
            livemode=livemode,
            at=now,
        )
        return payout
