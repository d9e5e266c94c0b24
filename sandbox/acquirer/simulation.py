"""What the simulated acquirers share: the acquirer's own books and their rules.

The books are the acquirer's side of each attempt, kept by our attempt reference: the
authorization result, the captures and refunds by their references, the void. They make
every operation idempotent by its reference and refuse what a real acquirer refuses
(capturing more than authorized, refunding more than captured, voiding a captured charge).
They also keep the acquirer's settlement file: each successful capture and refund, with
the time it was booked, read back per UTC day (`settlement_records`) for reconciliation.

The simulators are in-process objects; `paygate up` hosts one of each in the acquirer role
(servers/roles/acquirer.py) so that every process of the gateway sees the same books.

State lives in memory, in a dict guarded by one asyncio lock, and, given a BooksJournal
(books_journal.py, as the acquirer role does), on disk too: every change is appended to the
journal under the same lock and read back at start, so a restart forgets nothing. The
check-then-record of an idempotent call is one critical section, so concurrent duplicates
act once. Simulated
latency is slept outside the lock, so slow calls still overlap as they would on a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from enum import Enum
from typing import Generic, TypeVar

from adapters.acquirers.settlement_file import SettlementRecord
from adapters.system import SystemClock
from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    CaptureRequest,
    DeclineCode,
    OperationKind,
    OperationResult,
    OperationStatus,
    RefundRequest,
    RejectionCode,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.ports import Clock
from sandbox.acquirer.books_journal import AttemptState, Books, BooksJournal

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class CodeMeaning:
    """One row of a transformers table: a raw acquirer code in paygate's terms."""

    outcome: AuthorizationOutcome
    decline_code: DeclineCode | None
    message: str


class Delivery(Enum):
    """What became of a request on the wire (for forcing timeouts in tests)."""

    DELIVERED = "delivered"
    REPLY_LOST = "reply_lost"  # acted on and recorded, but the caller hears nothing
    REQUEST_LOST = "request_lost"  # never arrived: nothing recorded, the caller hears nothing


@dataclass(frozen=True)
class OperationAnswer:
    status: OperationStatus
    failure_code: DeclineCode | None = None
    acquirer_code: str = "00"
    delivery: Delivery = Delivery.DELIVERED


@dataclass(frozen=True)
class SaleCapture:
    """The capture a sale made, and what became of the sale's reply on the wire."""

    result: OperationResult
    delivery: Delivery


@dataclass
class AttemptRecord:
    merchant_id: str
    fingerprint: str  # of the authorization's parameters, to spot a reused reference
    result: AuthorizationResult
    captures: dict[str, OperationResult] = field(default_factory=dict)
    refunds: dict[str, OperationResult] = field(default_factory=dict)
    void: OperationResult | None = None
    final_capture_done: bool = False

    @property
    def captured(self) -> int:
        return _succeeded_total(self.captures)

    @property
    def refunded(self) -> int:
        return sum(
            r.amount.amount for r in self.refunds.values() if r.status is not OperationStatus.FAILED
        )


SettledCallback = Callable[[SettlementRecord], None]


def _succeeded_total(operations: dict[str, OperationResult]) -> int:
    return sum(
        op.amount.amount for op in operations.values() if op.status is OperationStatus.SUCCEEDED
    )


def new_reference(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


RecordT = TypeVar("RecordT", bound=AttemptRecord)


class SimulatedAcquirer(Generic[RecordT]):
    """Books, lookup, capture, void and refund; subclasses authorize and complete actions."""

    reference_prefix = "sim"

    def __init__(
        self,
        *,
        latency: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
        on_settled: SettledCallback | None = None,
        journal: BooksJournal | None = None,
    ) -> None:
        self._latency = latency
        self._sleep = sleep
        self._clock: Clock = clock or SystemClock()
        self._records: dict[str, RecordT] = {}
        self._settlement: list[SettlementRecord] = []  # in booking order
        self._lock = asyncio.Lock()
        # Fingerprints are keyed so the books never hold a plain hash of a card number.
        self._fingerprint_key = journal.fingerprint_key() if journal else secrets.token_bytes(32)
        # Every completed capture and refund, in order: what the settlement file lists.
        self._on_settled = on_settled
        self._journal = journal
        if journal is not None:
            self._restore(journal.read())

    # --- the books on disk -------------------------------------------------------------

    def _restore(self, books: Books) -> None:
        """Takes up the books a journal held (at start, before any call)."""
        for reference, state in books.attempts.items():
            self._records[reference] = self._record_from(state)
        self._settlement = list(books.settlement)

    def close_journal(self) -> None:
        """Closes the journal's file, if any (the role, as it stops); a later change
        opens it again."""
        if self._journal is not None:
            self._journal.close()

    def _record_from(self, state: AttemptState) -> RecordT:
        """A record of this simulator's kind from its journal state."""
        raise NotImplementedError

    def _extra_of(self, record: RecordT) -> dict[str, str | float]:
        """What this simulator keeps on a record beyond the common books (for the journal)."""
        return {}

    def _save(self, reference: str) -> None:
        """Writes the attempt's record to the journal, if any. Call under the lock."""
        if self._journal is None:
            return
        record = self._records[reference]
        self._journal.attempt(
            reference,
            AttemptState(
                merchant_id=record.merchant_id,
                fingerprint=record.fingerprint,
                result=record.result,
                captures=list(record.captures.values()),
                refunds=list(record.refunds.values()),
                void=record.void,
                final_capture_done=record.final_capture_done,
                extra=dict(self._extra_of(record)),
            ),
        )

    # --- hooks -------------------------------------------------------------------------

    def _answer_operation(
        self, kind: OperationKind, record: RecordT, amount: Money
    ) -> OperationAnswer:
        """How the network answers a capture, void or refund that the books allow."""
        return OperationAnswer(OperationStatus.SUCCEEDED)

    async def _simulate_latency(self) -> None:
        if self._latency > 0:
            await self._sleep(self._latency)

    def _on_captured(self, record: RecordT, capture: OperationResult) -> None:
        """Called under the lock after a successful capture."""

    def _on_canceled(self, attempt_reference: str) -> None:
        """Called under the lock when a void cancels a pending action."""

    def _fingerprint(self, request: AuthorizationRequest, source_identity: str) -> str:
        material = "|".join(
            (
                request.merchant_id,
                str(request.amount.amount),
                request.amount.currency,
                source_identity,
            )
        )
        return hmac.new(self._fingerprint_key, material.encode(), hashlib.sha256).hexdigest()

    def _replay(
        self, request: AuthorizationRequest, fingerprint: str
    ) -> AuthorizationResult | None:
        """The recorded result of this reference, if any. Call under the lock."""
        record = self._records.get(request.attempt_reference)
        if record is None:
            return None
        if record.fingerprint != fingerprint or record.merchant_id != request.merchant_id:
            raise AcquirerRejected(
                RejectionCode.REFERENCE_REUSED,
                f"Attempt {request.attempt_reference} was already sent with other parameters.",
            )
        return record.result

    def _require(self, attempt_reference: str, merchant_id: str | None = None) -> RecordT:
        record = self._records.get(attempt_reference)
        if record is None or (merchant_id is not None and record.merchant_id != merchant_id):
            raise AcquirerRejected(
                RejectionCode.UNKNOWN_REFERENCE, f"No attempt {attempt_reference} at the acquirer."
            )
        return record

    @staticmethod
    def _check_amount(amount: Money, record: RecordT) -> None:
        if amount.amount <= 0:
            raise AcquirerRejected(RejectionCode.INVALID_AMOUNT, "The amount must be positive.")
        if amount.currency != record.result.amount.currency:
            raise AcquirerRejected(
                RejectionCode.CURRENCY_MISMATCH,
                f"The attempt is in {record.result.amount.currency}, not {amount.currency}.",
            )

    def _book(self, record: RecordT, operation: OperationResult) -> None:
        """Writes a successful capture or refund into the settlement file. Under the lock."""
        booked = SettlementRecord(
            reference=operation.reference,
            kind=operation.kind,
            amount=operation.amount,
            booked_at=self._clock.now().astimezone(UTC),
            attempt_reference=operation.attempt_reference,
            merchant_id=record.merchant_id,
            acquirer_reference=operation.acquirer_reference,
        )
        self._settlement.append(booked)
        if self._journal is not None:
            self._journal.settled(booked)
        if self._on_settled is not None:
            self._on_settled(booked)

    # --- a sale: the capture in the authorization's message ------------------------------

    def _sale_capture(self, record: RecordT, request: AuthorizationRequest) -> SaleCapture | None:
        """Captures an approval in the authorization's own message when the request asks
        for a sale (`capture_reference`): the capture goes into the books and into the
        recorded result, so the same authorize and every lookup answer it. Under the lock,
        before `_save`; `_settle_capture` after it. None: no sale (not asked, not approved)."""
        if not request.capture_reference:
            return None
        if record.result.outcome is not AuthorizationOutcome.APPROVED:
            return None
        answer = self._answer_operation(OperationKind.CAPTURE, record, request.amount)
        wanted = CaptureRequest(
            request.attempt_reference,
            request.capture_reference,
            request.merchant_id,
            request.amount,
            final=True,
        )
        capture = self._capture_recorded(record, wanted, answer)
        record.result = replace(record.result, capture=capture)
        return SaleCapture(capture, answer.delivery)

    def _saved_with_sale(self, record: RecordT, request: AuthorizationRequest) -> bool:
        """Saves a new authorization's record, with its sale's capture when the request
        asks for one, booked and settled like a capture call's. Under the lock. True: the
        sale's reply is lost (the capture is made all the same)."""
        sale = self._sale_capture(record, request)
        self._save(request.attempt_reference)
        if sale is None:
            return False
        self._settle_capture(record, sale.result)
        return sale.delivery is Delivery.REPLY_LOST

    def _capture_recorded(
        self, record: RecordT, request: CaptureRequest, answer: OperationAnswer
    ) -> OperationResult:
        """A capture (a call's or a sale's) as the network answered it, in the books.
        Under the lock, before `_save`."""
        result = OperationResult(
            kind=OperationKind.CAPTURE,
            attempt_reference=request.attempt_reference,
            reference=request.capture_reference,
            status=answer.status,
            amount=request.amount,
            acquirer_reference=new_reference(f"{self.reference_prefix}_cap"),
            failure_code=answer.failure_code,
            acquirer_code=answer.acquirer_code,
        )
        record.captures[request.capture_reference] = result
        if result.status is OperationStatus.SUCCEEDED:
            record.final_capture_done = request.final
        return result

    def _settle_capture(self, record: RecordT, capture: OperationResult) -> None:
        """A successful capture (a call's or a sale's) into the settlement file and the
        dispute feed. Under the lock, after `_save`."""
        if capture.status is OperationStatus.SUCCEEDED:
            self._book(record, capture)
            self._on_captured(record, capture)

    # --- the settlement file -----------------------------------------------------------

    @property
    def settlement(self) -> list[SettlementRecord]:
        """Every capture and refund booked so far, in booking order."""
        return list(self._settlement)

    async def settlement_records(self, day: date) -> list[SettlementRecord]:
        """The captures and refunds booked on `day` (UTC), in booking order."""
        async with self._lock:
            return [r for r in self._settlement if r.booked_at.date() == day]

    # --- the port ----------------------------------------------------------------------

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        await self._simulate_latency()
        async with self._lock:
            record = self._records.get(attempt_reference)
            return None if record is None else record.result

    async def capture(self, request: CaptureRequest) -> OperationResult:
        await self._simulate_latency()
        async with self._lock:
            record = self._require(request.attempt_reference, request.merchant_id)
            prior = record.captures.get(request.capture_reference)
            if prior is not None:
                _same_amount(prior, request.amount, request.capture_reference)
                return prior
            self._check_amount(request.amount, record)
            if record.void is not None:
                raise AcquirerRejected(RejectionCode.ALREADY_VOIDED, "The attempt was voided.")
            if record.result.outcome is not AuthorizationOutcome.APPROVED:
                raise AcquirerRejected(
                    RejectionCode.NOT_AUTHORIZED,
                    f"The attempt is {record.result.outcome.value}, not APPROVED.",
                )
            if record.final_capture_done:
                raise AcquirerRejected(
                    RejectionCode.ALREADY_CAPTURED, "The final capture was already made."
                )
            capturable = record.result.amount.amount - record.captured
            if request.amount.amount > capturable:
                raise AcquirerRejected(
                    RejectionCode.AMOUNT_EXCEEDS_AUTHORIZED,
                    f"At most {capturable} can still be captured.",
                )
            answer = self._answer_operation(OperationKind.CAPTURE, record, request.amount)
            if answer.delivery is Delivery.REQUEST_LOST:
                raise AcquirerTimeout(request.capture_reference)
            result = self._capture_recorded(record, request, answer)
            self._save(request.attempt_reference)
            self._settle_capture(record, result)
        if answer.delivery is Delivery.REPLY_LOST:
            raise AcquirerTimeout(request.capture_reference)
        return result

    async def refund(self, request: RefundRequest) -> OperationResult:
        await self._simulate_latency()
        async with self._lock:
            record = self._require(request.attempt_reference, request.merchant_id)
            prior = record.refunds.get(request.refund_reference)
            if prior is not None:
                _same_amount(prior, request.amount, request.refund_reference)
                return prior
            self._check_amount(request.amount, record)
            refundable = record.captured - record.refunded
            if request.amount.amount > refundable:
                raise AcquirerRejected(
                    RejectionCode.AMOUNT_EXCEEDS_CAPTURED,
                    f"At most {refundable} can still be refunded.",
                )
            answer = self._answer_operation(OperationKind.REFUND, record, request.amount)
            if answer.delivery is Delivery.REQUEST_LOST:
                raise AcquirerTimeout(request.refund_reference)
            result = OperationResult(
                kind=OperationKind.REFUND,
                attempt_reference=request.attempt_reference,
                reference=request.refund_reference,
                status=answer.status,
                amount=request.amount,
                acquirer_reference=new_reference(f"{self.reference_prefix}_ref"),
                failure_code=answer.failure_code,
                acquirer_code=answer.acquirer_code,
            )
            record.refunds[request.refund_reference] = result
            self._save(request.attempt_reference)
            if result.status is OperationStatus.SUCCEEDED:
                self._book(record, result)
        if answer.delivery is Delivery.REPLY_LOST:
            raise AcquirerTimeout(request.refund_reference)
        return result

    async def void(self, request: VoidRequest) -> OperationResult:
        """Releases what is not captured; on a pending action, cancels it for good."""
        await self._simulate_latency()
        async with self._lock:
            record = self._require(request.attempt_reference, request.merchant_id)
            if record.void is not None and record.void.status is not OperationStatus.FAILED:
                return record.void
            outcome = record.result.outcome
            pending = outcome in (
                AuthorizationOutcome.REQUIRES_ACTION,
                AuthorizationOutcome.PENDING,
            )
            if not pending and outcome is not AuthorizationOutcome.APPROVED:
                raise AcquirerRejected(
                    RejectionCode.NOT_AUTHORIZED,
                    f"The attempt is {outcome.value}: nothing to void.",
                )
            release = record.result.amount.amount - record.captured
            if record.final_capture_done or release <= 0:
                raise AcquirerRejected(
                    RejectionCode.ALREADY_CAPTURED, "The attempt is captured; refund it instead."
                )
            amount = Money(release, record.result.amount.currency)
            answer = (
                OperationAnswer(OperationStatus.SUCCEEDED)
                if pending
                else self._answer_operation(OperationKind.VOID, record, amount)
            )
            if answer.delivery is Delivery.REQUEST_LOST:
                raise AcquirerTimeout(request.attempt_reference)
            result = OperationResult(
                kind=OperationKind.VOID,
                attempt_reference=request.attempt_reference,
                reference=request.attempt_reference,
                status=answer.status,
                amount=amount,
                acquirer_reference=new_reference(f"{self.reference_prefix}_void"),
                failure_code=answer.failure_code,
                acquirer_code=answer.acquirer_code,
            )
            record.void = result
            if pending and result.status is OperationStatus.SUCCEEDED:
                record.result = replace(
                    record.result,
                    outcome=AuthorizationOutcome.CANCELED,
                    decline_code=None,
                    next_action=None,
                    message="The payment was canceled before it was completed.",
                )
                self._on_canceled(request.attempt_reference)
            self._save(request.attempt_reference)
        if answer.delivery is Delivery.REPLY_LOST:
            raise AcquirerTimeout(request.attempt_reference)
        return result


def record_from(state: AttemptState) -> AttemptRecord:
    """The common books of a journal state."""
    return AttemptRecord(
        merchant_id=state.merchant_id,
        fingerprint=state.fingerprint,
        result=state.result,
        captures={c.reference: c for c in state.captures},
        refunds={r.reference: r for r in state.refunds},
        void=state.void,
        final_capture_done=state.final_capture_done,
    )


def _same_amount(prior: OperationResult, amount: Money, reference: str) -> None:
    if prior.amount != amount:
        raise AcquirerRejected(
            RejectionCode.REFERENCE_REUSED, f"{reference} was already sent with another amount."
        )
