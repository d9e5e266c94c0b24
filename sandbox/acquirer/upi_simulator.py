"""A simulated UPI switch: collect requests that the payer approves in their UPI app.

authorize() validates the payer's VPA (core.payments.acquirer.VPA_PATTERN; a bad one raises
InvalidPaymentDetails naming `upi.vpa`, which the core turns into INVALID_ARGUMENT) and
answers REQUIRES_ACTION with next_action UPI_COLLECT: a `upi://pay` deep link and the same
link as a QR code PNG (data: URI), for the payer who prefers to scan.

The collect then ends by itself, as the handler plans it (the test VPAs of API.md):

    success@upi      approved after `approval_delay` seconds
    failure@upi      fails (U30, debit failed) after `approval_delay` seconds
    any other VPA    waits for the payer: complete_challenge(reference, passed) plays the
                     UPI app's approve / decline buttons; unanswered, it expires (U69)
                     after `collect_expiry` seconds

How the gateway hears of completion: it polls lookup(reference), which always tells the
current state, and that is the contract of the port. Optionally `on_complete`, an async
callback, is awaited once per collect when it reaches a final state (as a PSP's webhook
would be); a failing callback is logged and changes nothing, so polling stays the truth.

Timers are asyncio tasks: use the simulator as `async with UpiSimulator(...)` (or call
aclose()) so none outlives its event loop. Tests inject `sleep` and delays of 0, and
`await simulator.settled(reference)` waits for a collect to end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Self

from core.payments.acquirer import (
    Acquirer,
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    InvalidPaymentDetails,
    NextActionType,
    RejectionCode,
    Upi,
    normalize_vpa,
)
from core.payments.model import NextAction
from core.shared.money import Money
from core.shared.ports import Clock
from sandbox.acquirer.books_journal import AttemptState, Books, BooksJournal
from sandbox.acquirer.simulation import (
    AttemptRecord,
    SimulatedAcquirer,
    Sleep,
    new_reference,
    record_from,
)
from sandbox.acquirer.upi_qr import qr_png_data_uri, upi_deep_link
from sandbox.acquirer.upi_transformers import UpiCode, meaning_of

log = logging.getLogger(__name__)

SUCCESS_VPA = "success@upi"
FAILURE_VPA = "failure@upi"
UPI_CURRENCY = "INR"


@dataclass(frozen=True)
class CollectRequest:
    attempt_reference: str
    merchant_id: str
    payer_vpa: str  # canonical (lower case)
    amount: Money


@dataclass(frozen=True)
class CollectPlan:
    """How a collect ends unless the payer acts first: with `code` after `after` seconds."""

    code: str  # a UpiCode, or anything else to test the unknown-code path
    after: float


UpiHandler = Callable[[CollectRequest], CollectPlan]
CompletionCallback = Callable[[AuthorizationResult], Awaitable[None]]


@dataclass
class _Collect(AttemptRecord):
    # How the collect ends unless the payer acts first, and when: a restarted switch
    # picks up the timer where it was.
    plan_code: str = ""
    due_at: datetime | None = None


class UpiSimulator(SimulatedAcquirer[_Collect]):
    """An in-memory UPI switch implementing the Acquirer port."""

    reference_prefix = "simupi"

    def __init__(
        self,
        handler: UpiHandler | None = None,
        *,
        payee_vpa: str = "paygate@sim",
        payee_name: str = "paygate",
        approval_delay: float = 2.0,
        collect_expiry: float = 600.0,
        on_complete: CompletionCallback | None = None,
        latency: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
        journal: BooksJournal | None = None,
    ) -> None:
        self._timers: dict[str, asyncio.Task[None]] = {}
        super().__init__(latency=latency, sleep=sleep, clock=clock, journal=journal)
        canonical_payee = normalize_vpa(payee_vpa)
        if canonical_payee is None:
            raise ValueError(f"payee_vpa {payee_vpa!r} is not a valid VPA")
        self._handler = handler or self.test_vpas
        self._payee_vpa = canonical_payee
        self._payee_name = payee_name
        self._approval_delay = approval_delay
        self._collect_expiry = collect_expiry
        self._on_complete = on_complete

    def test_vpas(self, request: CollectRequest) -> CollectPlan:
        """The default handler: the test VPAs of API.md."""
        if request.payer_vpa == SUCCESS_VPA:
            return CollectPlan(UpiCode.SUCCESS, self._approval_delay)
        if request.payer_vpa == FAILURE_VPA:
            return CollectPlan(UpiCode.DEBIT_FAILED, self._approval_delay)
        return CollectPlan(UpiCode.COLLECT_EXPIRED, self._collect_expiry)

    # --- Acquirer ----------------------------------------------------------------------

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        source = request.source
        if not isinstance(source, Upi):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, "The UPI switch takes UPI payments only."
            )
        vpa = normalize_vpa(source.vpa)
        if vpa is None:
            raise InvalidPaymentDetails("upi.vpa", "is not a valid UPI address (name@psp)")
        if request.amount.currency != UPI_CURRENCY:
            raise AcquirerRejected(
                RejectionCode.CURRENCY_NOT_SUPPORTED, "UPI payments are in INR only."
            )
        if request.amount.amount <= 0:
            raise AcquirerRejected(RejectionCode.INVALID_AMOUNT, "The amount must be positive.")
        fingerprint = self._fingerprint(request, vpa)
        await self._simulate_latency()
        async with self._lock:
            recorded = self._replay(request, fingerprint)
            if recorded is not None:
                return recorded
            link = upi_deep_link(
                payee_vpa=self._payee_vpa,
                payee_name=request.merchant_name or self._payee_name,
                amount=request.amount,
                reference=request.attempt_reference,
                note=request.description,
            )
            result = AuthorizationResult(
                attempt_reference=request.attempt_reference,
                outcome=AuthorizationOutcome.REQUIRES_ACTION,
                amount=request.amount,
                acquirer_reference=new_reference(self.reference_prefix),
                message="Approve the payment request in your UPI app.",
                next_action=NextAction(
                    type=NextActionType.UPI_COLLECT, url=link, qr_code=qr_png_data_uri(link)
                ),
            )
            plan = self._handler(
                CollectRequest(request.attempt_reference, request.merchant_id, vpa, request.amount)
            )
            self._records[request.attempt_reference] = _Collect(
                merchant_id=request.merchant_id,
                fingerprint=fingerprint,
                result=result,
                plan_code=plan.code,
                due_at=self._clock.now() + timedelta(seconds=plan.after),
            )
            self._save(request.attempt_reference)
            self._start_timer(request.attempt_reference, plan)
        return result

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        """The payer approves (passed) or declines the collect in their UPI app."""
        await self._simulate_latency()
        async with self._lock:
            record = self._require(attempt_reference)
            if record.result.is_final:
                return record.result
            if record.result.outcome is not AuthorizationOutcome.REQUIRES_ACTION:
                raise AcquirerRejected(
                    RejectionCode.NO_ACTION_PENDING, f"{attempt_reference} awaits no approval."
                )
            code = UpiCode.SUCCESS if passed else UpiCode.DECLINED_BY_PAYER
            result = self._settle(record, code)
            self._save(attempt_reference)
            self._stop_timer(attempt_reference)
        await self._notify(result)
        return result

    # --- simulator controls ------------------------------------------------------------

    async def settled(self, attempt_reference: str) -> AuthorizationResult | None:
        """Waits until the collect's timer has run (callback included); then lookup()."""
        timer = self._timers.get(attempt_reference)
        if timer is not None:
            await asyncio.wait({timer})
        return await self.lookup(attempt_reference)

    async def aclose(self) -> None:
        timers = list(self._timers.values())
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        self._timers.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- internals ---------------------------------------------------------------------

    def _start_timer(self, attempt_reference: str, plan: CollectPlan) -> None:
        timer = asyncio.create_task(
            self._end_later(attempt_reference, plan), name=f"upi-collect-{attempt_reference}"
        )
        self._timers[attempt_reference] = timer

        def forget(done: asyncio.Task[None]) -> None:
            if self._timers.get(attempt_reference) is done:
                del self._timers[attempt_reference]

        timer.add_done_callback(forget)

    def _stop_timer(self, attempt_reference: str) -> None:
        timer = self._timers.get(attempt_reference)
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _end_later(self, attempt_reference: str, plan: CollectPlan) -> None:
        await self._sleep(plan.after)
        async with self._lock:
            record = self._records[attempt_reference]
            if record.result.outcome is not AuthorizationOutcome.REQUIRES_ACTION:
                return  # the payer acted, or a void canceled it, first
            result = self._settle(record, plan.code)
            self._save(attempt_reference)
        await self._notify(result)

    def _settle(self, record: AttemptRecord, code: str) -> AuthorizationResult:
        """Records the collect's final state. Call under the lock."""
        meaning = meaning_of(code)
        approved = meaning.outcome is AuthorizationOutcome.APPROVED
        record.result = replace(
            record.result,
            outcome=meaning.outcome,
            decline_code=meaning.decline_code,
            acquirer_code=code,
            # UPI's retrieval reference number (RRN) plays the approval code's part.
            authorization_code=f"{secrets.randbelow(10**12):012d}" if approved else "",
            message=meaning.message,
            next_action=None,
        )
        return record.result

    def _on_canceled(self, attempt_reference: str) -> None:
        self._stop_timer(attempt_reference)

    # --- the books on disk -------------------------------------------------------------

    def _restore(self, books: Books) -> None:
        """Takes up the books, and restarts the timer of every collect still pending
        (with the time it had left): the switch must run inside an event loop then."""
        super()._restore(books)
        now = self._clock.now()
        for reference, record in self._records.items():
            pending = record.result.outcome is AuthorizationOutcome.REQUIRES_ACTION
            if pending and record.plan_code and record.due_at is not None:
                left = max(0.0, (record.due_at - now).total_seconds())
                self._start_timer(reference, CollectPlan(record.plan_code, left))

    def _record_from(self, state: AttemptState) -> _Collect:
        due = state.extra.get("due_at")
        return _Collect(
            **vars(record_from(state)),
            plan_code=str(state.extra.get("plan_code", "")),
            due_at=datetime.fromisoformat(due) if due else None,
        )

    def _extra_of(self, record: _Collect) -> dict[str, str | float]:
        if not record.plan_code or record.due_at is None:
            return {}
        return {"plan_code": record.plan_code, "due_at": record.due_at.isoformat()}

    async def _notify(self, result: AuthorizationResult) -> None:
        if self._on_complete is None:
            return
        try:
            await self._on_complete(result)
        except Exception:
            log.exception("UPI completion callback failed for %s", result.attempt_reference)


if TYPE_CHECKING:  # mypy proves the simulator fits the port
    _port: Acquirer = UpiSimulator()
