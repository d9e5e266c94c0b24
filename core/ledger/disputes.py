"""Disputes: opened from the acquirer's dispute feed, answered with evidence, decided by
the network on a schedule; each step posts its journal entry in the same transaction.

    NEEDS_RESPONSE --submit_evidence--> UNDER_REVIEW --decide_at--> WON | LOST
          \\------------------------- evidence_due_by ------------> LOST (usually)

- Opening (`ingest`, worker role): the feed names the capture by its reference; the
  ledger's CAPTURE entry with that reference gives the payment. The amount (capped at what
  is left of the charge) and the dispute fee leave the merchant's funds (DISPUTE_OPENED).
  Ingesting is idempotent by the network's dispute reference.
- Evidence (POST /v1/disputes/{id}/evidence): accepted while NEEDS_RESPONSE and before
  `evidence_due_by` (opened + DisputePolicy.evidence_days); the network then decides
  `review_days` later.
- Resolution (`resolve_due_disputes(now)`, worker role): open disputes whose `decide_at`
  passed are claimed (FOR UPDATE SKIP LOCKED) and closed with the network's verdict
  (DisputeDecisions; the simulator: WON with evidence, LOST without). WON returns the
  held amount (DISPUTE_WON), LOST pays it to the acquirer (DISPUTE_LOST, the chargeback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.access.model import Principal
from core.events.model import EventType
from core.events.ports import NoPublisher, Publisher
from core.ledger.errors import AmountTooLarge
from core.ledger.hooks import LedgerHooks
from core.ledger.model import EntryKind
from core.ledger.ports import DisputeDecisions
from core.ledger.projections import charge_state
from core.ledger.records import (
    EVIDENCE_FIELDS,
    MAX_EVIDENCE_CHARS,
    Dispute,
    DisputeEvidence,
    DisputeOutcome,
    DisputeStatus,
)
from core.payments.acquirer import AcquirerDispute, DisputeFeed
from core.shared.errors import NotFound, Violations
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ["DisputePolicy", "Disputes", "IngestResult"]


@dataclass(frozen=True)
class DisputePolicy:
    evidence_days: int = 7  # evidence is due this long after the dispute opened
    review_days: int = 1  # the network decides this long after evidence arrives

    @property
    def evidence_window(self) -> timedelta:
        return timedelta(days=self.evidence_days)

    @property
    def review(self) -> timedelta:
        return timedelta(days=self.review_days)


@dataclass
class IngestResult:
    opened: list[Dispute] = field(default_factory=list)
    # Disputes the ledger cannot tie to a capture (unknown reference, nothing left to
    # dispute): reported for an operator; asked again on the next run.
    unmatched: list[AcquirerDispute] = field(default_factory=list)
    cursor: int = 0  # the highest feed sequence seen: pass it as `since` next time


def _visible(caller: Principal, dispute: Dispute | None) -> bool:
    """Another mode's dispute does not exist for the caller, like another merchant's."""
    return dispute is not None and dispute.livemode == caller.livemode


class Disputes:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        decisions: DisputeDecisions,
        policy: DisputePolicy | None = None,
        events: Publisher | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._decisions = decisions
        self._policy = policy or DisputePolicy()
        self._hooks = LedgerHooks(ids)
        self._events = events or NoPublisher()

    # --- the feed (worker role) ----------------------------------------------------------

    async def ingest(self, feed: DisputeFeed, since: int = 0) -> IngestResult:
        result = IngestResult(cursor=since)
        for opened in await feed.disputes_since(since):
            result.cursor = max(result.cursor, opened.sequence)
            async with self._uow() as uow:
                known = await uow.disputes.by_acquirer_reference(
                    opened.merchant_id, opened.dispute_reference
                )
                if known is not None:
                    continue
                try:
                    dispute = await self._open(uow, opened)
                except AmountTooLarge:
                    # Another run opened it between the check above and the charge's lock,
                    # and its dispute took the amount: skip it, as the check would have.
                    taken = await uow.disputes.by_acquirer_reference(
                        opened.merchant_id, opened.dispute_reference
                    )
                    if taken is not None:
                        continue
                    raise
                if dispute is None:
                    result.unmatched.append(opened)
                    continue
                if not await uow.disputes.add(dispute):
                    continue  # a concurrent run took it: roll back the entry just posted
                await self._publish(uow, EventType.CHARGE_DISPUTE_CREATED, dispute)
                await uow.commit()
            result.opened.append(dispute)
        return result

    async def _open(self, uow: UnitOfWork, opened: AcquirerDispute) -> Dispute | None:
        merchant_id = opened.merchant_id
        captures = [
            e
            for e in await uow.ledger.entries_for_reference(merchant_id, opened.capture_reference)
            if e.kind is EntryKind.CAPTURE
        ]
        if not captures:
            return None
        payment_intent_id = captures[0].payment_intent_id
        charge = charge_state(await uow.ledger.entries_for_payment(merchant_id, payment_intent_id))
        if charge is None or charge.captured.currency != opened.amount.currency:
            return None
        amount = min(opened.amount.amount, charge.refundable)
        if amount <= 0:
            return None
        dispute_id = self._ids.new("dp")
        entry = await self._hooks.on_dispute_opened(
            uow,
            merchant_id,
            payment_intent_id,
            dispute_id,
            amount,
            opened.amount.currency,
            opened.opened_at,
        )
        due = opened.opened_at + self._policy.evidence_window
        return Dispute(
            id=dispute_id,
            merchant_id=merchant_id,
            payment_intent_id=payment_intent_id,
            amount=amount,
            currency=opened.amount.currency,
            reason=opened.reason.value,
            status=DisputeStatus.NEEDS_RESPONSE,
            created=opened.opened_at,
            evidence_due_by=due,
            decide_at=due,
            acquirer_reference=opened.dispute_reference,
            capture_reference=opened.capture_reference,
            balance_transactions=(entry.id,),
            livemode=entry.livemode,
        )

    async def _publish(self, uow: UnitOfWork, type: EventType, dispute: Dispute) -> None:
        await self._events.publish(
            uow,
            merchant_id=dispute.merchant_id,
            type=type.value,
            obj=dispute,
            livemode=dispute.livemode,
            at=dispute.closed_at or dispute.created,
        )

    # --- the schedule (worker role) ------------------------------------------------------

    async def resolve_due_disputes(self, now: datetime) -> Sequence[Dispute]:
        """Closes every open dispute whose decision time has passed, one per transaction."""
        closed: list[Dispute] = []
        while True:
            async with self._uow() as uow:
                due = await uow.disputes.claim_due(now)
                if due is None:
                    return closed
                # The simulator's verdict is a rule on the dispute's own state (no I/O);
                # a real network delivers verdicts through its feed instead.
                outcome = await self._decisions.outcome(due)
                if outcome is DisputeOutcome.WON:
                    entry = await self._hooks.on_dispute_won(uow, due.merchant_id, due.id, now)
                    transaction_id = entry.id
                else:
                    await self._hooks.on_dispute_lost(uow, due.merchant_id, due.id, now)
                    transaction_id = ""
                done = due.closed(outcome, at=now, transaction_id=transaction_id)
                await uow.disputes.update(done)
                await self._publish(uow, EventType.CHARGE_DISPUTE_CLOSED, done)
                await uow.commit()
            closed.append(done)

    # --- the API -------------------------------------------------------------------------

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[Dispute]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if starting_after and not _visible(
                caller, await uow.disputes.get(caller.merchant_id, starting_after)
            ):
                raise unknown_cursor()
            rows = await uow.disputes.list(
                caller.merchant_id,
                livemode=caller.livemode,
                limit=limit + 1,
                starting_after=starting_after or None,
            )
        return Page.from_overfetch(list(rows), limit)

    async def get(self, caller: Principal, dispute_id: str) -> Dispute:
        async with self._uow() as uow:
            found = await uow.disputes.get(caller.merchant_id, dispute_id)
        if found is None or not _visible(caller, found):
            raise NotFound(f"No such dispute: {dispute_id[:40]!r}", metadata={"param": "id"})
        return found

    async def submit_evidence(
        self, caller: Principal, dispute_id: str, evidence: DisputeEvidence
    ) -> Dispute:
        violations = Violations()
        if evidence.empty:
            violations.missing("evidence", f"needs at least one of {', '.join(EVIDENCE_FIELDS)}")
        for name in EVIDENCE_FIELDS:
            if len(getattr(evidence, name)) > MAX_EVIDENCE_CHARS:
                violations.add(
                    f"evidence.{name}", f"may be at most {MAX_EVIDENCE_CHARS} characters"
                )
        violations.raise_if_any()
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.disputes.get(caller.merchant_id, dispute_id, for_update=True)
            if found is None or not _visible(caller, found):
                raise NotFound(f"No such dispute: {dispute_id[:40]!r}", metadata={"param": "id"})
            updated = found.with_evidence(evidence, at=now, review=self._policy.review)
            await uow.disputes.update(updated)
            await uow.disputes.add_evidence(caller.merchant_id, dispute_id, evidence, now)
            await uow.commit()
        return updated
