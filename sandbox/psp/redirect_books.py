"""The books of a redirect-and-approve acquirer (a wallet, a bank's net banking): the payer
answers on the acquirer's own page, and the answer reaches the gateway when it asks.

An authorization opens a payment that waits for the payer (REQUIRES_ACTION). The payer's
answer on the page (`answer`: who logged in, approve or decline) decides it by the
subclass's test identities (`decide`); an approval the acquirer confirms late stays
PENDING until `late_delay` has passed. A payment nobody answers expires after `expiry`.
Time is read, not waited for: each read of a payment first brings it up to date, so a
restarted simulator carries on where its journal left off, with no timers to restore.

Captures, voids, refunds and the settlement file are the shared rules of
sandbox/acquirer/simulation.py, journaled under `<data_dir>/psp/<name>.jsonl`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Self

from core.payments.acquirer import (
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    DeclineCode,
    NextActionType,
    OperationResult,
    PaymentSource,
    RejectionCode,
    VoidRequest,
)
from core.payments.model import NextAction
from core.payments.redirect_methods import REDIRECT_CURRENCY
from core.shared.ports import Clock
from sandbox.acquirer.books_journal import AttemptState, BooksJournal
from sandbox.acquirer.simulation import AttemptRecord, SimulatedAcquirer, new_reference, record_from

Out = AuthorizationOutcome
Meaning = tuple[AuthorizationOutcome, DeclineCode | None]


@dataclass(frozen=True)
class Decision:
    """What the payer's answer comes to: the acquirer's code, and whether it is late."""

    code: str
    late: bool = False


@dataclass
class _Redirect(AttemptRecord):
    method: str = ""  # the wallet provider or the bank's code
    return_url: str = ""
    expires_at: datetime | None = None
    confirms_at: datetime | None = None  # a late approval: PENDING until then


class RedirectBooks(SimulatedAcquirer[_Redirect]):
    """Subclasses name their codes and test identities; the rules are the same."""

    name = "The acquirer"
    AWAITING = ""  # the code of a payment waiting for the payer
    LATE = ""  # the code of an approval not confirmed yet
    APPROVED = ""
    EXPIRED = ""
    DECLINED_BY_PAYER = ""
    CANCELED = ""  # closed by the merchant (a void) before the payer answered

    def __init__(
        self,
        *,
        expiry: float = 600.0,
        late_delay: float = 20.0,
        page_base: str = "",
        clock: Clock | None = None,
        journal: BooksJournal | None = None,
    ) -> None:
        super().__init__(clock=clock, journal=journal)
        self._expiry = timedelta(seconds=expiry)
        self._late_delay = timedelta(seconds=late_delay)
        # In-process books name the payer's page themselves; over HTTP the wire glue
        # names it from the address the request came to.
        self._page_base = page_base

    @classmethod
    def on_disk(
        cls,
        data_dir: Path | None,
        name: str,
        *,
        expiry: float,
        late_delay: float,
        clock: Clock | None = None,
    ) -> Self:
        """Books journaled as `<data_dir>/psp/<name>.jsonl` (in memory without a dir)."""
        journal = BooksJournal(data_dir / "psp", name) if data_dir is not None else None
        return cls(expiry=expiry, late_delay=late_delay, clock=clock, journal=journal)

    # --- what a subclass says ---------------------------------------------------------

    def method_of(self, source: PaymentSource) -> str | None:
        """The wallet or bank of `source`, or None when this acquirer does not take it."""
        raise NotImplementedError

    def decide(self, method: str, identity: str) -> Decision:
        """The outcome of an approval by `identity` (the test identities)."""
        raise NotImplementedError

    def meaning(self, code: str) -> Meaning:
        raise NotImplementedError

    # --- the port ---------------------------------------------------------------------

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        method = self.method_of(request.source)
        if method is None:
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, f"{self.name} does not take it."
            )
        if request.amount.currency != REDIRECT_CURRENCY:
            raise AcquirerRejected(
                RejectionCode.CURRENCY_NOT_SUPPORTED, f"{self.name} takes INR only."
            )
        if request.amount.amount <= 0:
            raise AcquirerRejected(RejectionCode.INVALID_AMOUNT, "The amount must be positive.")
        fingerprint = self._fingerprint(request, method)
        async with self._lock:
            recorded = self._replay(request, fingerprint)
            if recorded is not None:
                return self._current(request.attempt_reference)
            result = AuthorizationResult(
                attempt_reference=request.attempt_reference,
                outcome=Out.REQUIRES_ACTION,
                amount=request.amount,
                acquirer_reference=new_reference(self.reference_prefix),
                acquirer_code=self.AWAITING,
                message="Approve the payment on the provider's page.",
                next_action=NextAction(
                    type=NextActionType.REDIRECT_TO_URL,
                    url=f"{self._page_base}/{request.attempt_reference}",
                )
                if self._page_base
                else None,
            )
            self._records[request.attempt_reference] = _Redirect(
                merchant_id=request.merchant_id,
                fingerprint=fingerprint,
                result=result,
                method=method,
                return_url=request.return_url,
                expires_at=self._clock.now() + self._expiry,
            )
            self._save(request.attempt_reference)
        return result

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        raise AcquirerRejected(
            RejectionCode.NO_ACTION_PENDING, f"{self.name}'s payer answers on its own page."
        )

    async def lookup(self, attempt_reference: str) -> AuthorizationResult | None:
        async with self._lock:
            if attempt_reference not in self._records:
                return None
            return self._current(attempt_reference)

    async def void(self, request: VoidRequest) -> OperationResult:
        async with self._lock:
            if request.attempt_reference in self._records:
                self._current(request.attempt_reference)
        return await super().void(request)

    # --- the payer's page -------------------------------------------------------------

    async def page(self, attempt_reference: str) -> tuple[AuthorizationResult, str, str]:
        """The payment as its page shows it: the result, the wallet or bank, the return URL."""
        async with self._lock:
            record = self._require(attempt_reference)
            return self._current(attempt_reference), record.method, record.return_url

    async def answer(
        self, attempt_reference: str, identity: str, approve: bool
    ) -> AuthorizationResult:
        """The payer's answer on the page. Once the payment has left REQUIRES_ACTION,
        the recorded result stands whatever is answered."""
        async with self._lock:
            record = self._require(attempt_reference)
            result = self._current(attempt_reference)
            if result.outcome is not Out.REQUIRES_ACTION:
                return result
            if not approve:
                decision = Decision(self.DECLINED_BY_PAYER)
            else:
                decision = self.decide(record.method, identity.strip())
            if decision.late:
                record.confirms_at = self._clock.now() + self._late_delay
                record.result = replace(
                    record.result,
                    outcome=Out.PENDING,
                    acquirer_code=self.LATE,
                    message="Approved by the payer; the confirmation follows.",
                    next_action=None,
                )
                # A late confirmation owes the payer its answer whatever the expiry says.
                record.expires_at = None
                result = record.result
            else:
                result = self._settle(record, decision.code)
            self._save(attempt_reference)
        return result

    # --- internals --------------------------------------------------------------------

    def _current(self, attempt_reference: str) -> AuthorizationResult:
        """The payment brought up to date with the clock. Call under the lock."""
        record = self._records[attempt_reference]
        now = self._clock.now()
        outcome = record.result.outcome
        if outcome is Out.REQUIRES_ACTION and record.expires_at and now >= record.expires_at:
            self._settle(record, self.EXPIRED)
            self._save(attempt_reference)
        elif outcome is Out.PENDING and record.confirms_at and now >= record.confirms_at:
            self._settle(record, self.APPROVED)
            self._save(attempt_reference)
        return record.result

    def _settle(self, record: _Redirect, code: str) -> AuthorizationResult:
        outcome, decline = self.meaning(code)
        record.result = replace(
            record.result,
            outcome=outcome,
            decline_code=decline,
            acquirer_code=code,
            authorization_code=secrets.token_hex(6).upper() if outcome is Out.APPROVED else "",
            message="",
            next_action=None,
        )
        return record.result

    def _on_canceled(self, attempt_reference: str) -> None:
        record = self._records[attempt_reference]
        record.result = replace(record.result, acquirer_code=self.CANCELED)

    def _record_from(self, state: AttemptState) -> _Redirect:
        extra = state.extra

        def when(key: str) -> datetime | None:
            value = extra.get(key)
            return datetime.fromisoformat(value) if value else None

        return _Redirect(
            **vars(record_from(state)),
            method=str(extra.get("method", "")),
            return_url=str(extra.get("return_url", "")),
            expires_at=when("expires_at"),
            confirms_at=when("confirms_at"),
        )

    def _extra_of(self, record: _Redirect) -> dict[str, str | float]:
        extra: dict[str, str | float] = {"method": record.method, "return_url": record.return_url}
        if record.expires_at is not None:
            extra["expires_at"] = record.expires_at.isoformat()
        if record.confirms_at is not None:
            extra["confirms_at"] = record.confirms_at.isoformat()
        return extra
