"""The books of a simulated card PSP: one authorization per reference, decided by the PSP's
own code for the card (its test cards), the shared capture / refund / void rules of
sandbox/acquirer/simulation.py, journaled when given a journal.

A sale (an authorization with a capture reference: Orbit's `capture: true`, Kora's charge
without preauthorization) approved in its own message is captured in it too, by the same
shared rules as the card network's sale: booked and settled like a capture call, answered
by `_answer_operation` like one (so a test can refuse it or lose its reply), recorded in
the result so a repeat and a lookup answer it, never captured twice. Neither PSP
challenges, so a sale is approved with its capture or declined with nothing captured.

A PSP subclass names its codes: `code_for(card, today)` answers its raw code, `APPROVED`
and `REPLY_LOST` are the two that approve (the second also loses the reply). The wire
glue (orbit_simulator.py, kora_simulator.py) renders the recorded result in its shapes.
"""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path
from typing import ClassVar, Self

from core.payments.acquirer import (
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    Card,
    RejectionCode,
)
from core.shared.ports import Clock
from sandbox.acquirer.books_journal import AttemptState, BooksJournal
from sandbox.acquirer.card_network_simulator import luhn_valid
from sandbox.acquirer.simulation import AttemptRecord, SimulatedAcquirer, new_reference, record_from


class CardPspBooks(SimulatedAcquirer[AttemptRecord]):
    APPROVED = "approved"
    REPLY_LOST = "reply_lost"
    INVALID_NUMBER = "incorrect_number"
    EXPIRED = "expired_card"
    AUTHENTICATION_REQUIRED = "authentication_required"  # asked for 3-D Secure: none here
    TEST_CARDS: ClassVar[dict[str, str]] = {}
    name = "The PSP"

    def code_for(self, card: Card, today: date) -> str:
        number = card.number.reveal()
        if not luhn_valid(number):
            return self.INVALID_NUMBER
        if number in self.TEST_CARDS:
            return self.TEST_CARDS[number]
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return self.EXPIRED
        return self.APPROVED

    @classmethod
    def journaled(cls, data_dir: Path | None, name: str, clock: Clock | None = None) -> Self:
        """The books, journaled under `<data_dir>/psp/<name>.jsonl` when given a data dir."""
        journal = BooksJournal(data_dir / "psp", name) if data_dir is not None else None
        return cls(clock=clock, journal=journal)

    def authorization_code(self) -> str:
        return f"{secrets.randbelow(10**6):06d}"

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        card = request.source
        if not isinstance(card, Card):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, f"{self.name} takes cards."
            )
        if request.amount.amount <= 0:
            raise AcquirerRejected(RejectionCode.INVALID_AMOUNT, "The amount must be positive.")
        fingerprint = self._fingerprint(
            request, f"{card.number.reveal()}|{card.exp_month}|{card.exp_year}"
        )
        await self._simulate_latency()
        async with self._lock:
            recorded = self._replay(request, fingerprint)
            if recorded is not None:
                return recorded
            code = (
                self.AUTHENTICATION_REQUIRED
                if request.require_authentication
                else self.code_for(card, self._clock.now().date())
            )
            approved = code in (self.APPROVED, self.REPLY_LOST)
            result = AuthorizationResult(
                attempt_reference=request.attempt_reference,
                # The books keep the outcome; the wire shows the PSP's status and code.
                outcome=AuthorizationOutcome.APPROVED
                if approved
                else AuthorizationOutcome.DECLINED,
                amount=request.amount,
                acquirer_reference=new_reference(self.reference_prefix),
                acquirer_code=self.APPROVED if approved else code,
                authorization_code=self.authorization_code() if approved else "",
            )
            record = AttemptRecord(
                merchant_id=request.merchant_id, fingerprint=fingerprint, result=result
            )
            self._records[request.attempt_reference] = record
            sale_lost = self._saved_with_sale(record, request)
            result = record.result
        if code == self.REPLY_LOST or sale_lost:
            raise AcquirerTimeout(request.attempt_reference)
        return result

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        raise AcquirerRejected(RejectionCode.NO_ACTION_PENDING, f"{self.name} runs no challenges.")

    def _record_from(self, state: AttemptState) -> AttemptRecord:
        return record_from(state)
