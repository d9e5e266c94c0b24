"""A simulated card network: the acquirer of test mode, and a test double for the port.

Like httpx.MockTransport, the simulator is driven by a handler: a function from the
request the network sees (NetworkRequest) to its raw reply (NetworkReply: an ISO 8583
response code, whether the reply got lost, whether the issuer will dispute the charge).
The default handler implements the test cards of API.md; a test passes its own handler to
force any outcome:

    CardNetworkSimulator(handler=lambda request: NetworkReply(NetworkCode.INSUFFICIENT_FUNDS))

The raw reply is translated by card_network_transformers (a total table), the books in
simulation.py keep the acquirer's record by attempt reference.

A sale (an authorization with a capture reference: ISO 8583's 0200 against 0100 + 0220)
approved in its own message is captured in it too: the handler answers its capture as it
answers a capture call (so a test can refuse it, or lose the sale's reply by losing the
capture's), and the capture is booked, listed and disputed like any other. A challenged
sale is an authorization: the capture lapses.

3-D Secure: a `1A` reply (authentication required) makes the attempt REQUIRES_ACTION with a
redirect to `{challenge_base_url}/3ds/{attempt_reference}`, the gateway's web role page that
plays the issuer's challenge and then calls complete_challenge(reference, passed). The card
is kept in memory only while the challenge is pending; the books on disk keep instead the
network's answer for the authenticated retry (asked at once), so a challenge survives a
restart without the card ever being written down.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import quote

from core.payments.acquirer import (
    Acquirer,
    AcquirerDispute,
    AcquirerRejected,
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    AuthorizationResult,
    Card,
    DisputeFeed,
    DisputeReason,
    NextActionType,
    OperationKind,
    OperationResult,
    RejectionCode,
)
from core.payments.model import NextAction
from core.shared.money import Money
from core.shared.ports import Clock
from sandbox.acquirer.books_journal import AttemptState, Books, BooksJournal
from sandbox.acquirer.card_network_transformers import (
    THREE_DS_RESULTS,
    NetworkCode,
    ThreeDSStatus,
    meaning_of,
    operation_status,
)
from sandbox.acquirer.simulation import (
    AttemptRecord,
    CodeMeaning,
    Delivery,
    OperationAnswer,
    SettledCallback,
    SimulatedAcquirer,
    Sleep,
    new_reference,
    record_from,
)


class RequestKind(StrEnum):
    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


@dataclass(frozen=True)
class NetworkRequest:
    kind: RequestKind
    attempt_reference: str
    merchant_id: str
    amount: Money
    today: date
    card: Card | None = None  # AUTHORIZE only
    authenticated: bool = False  # 3-D Secure completed for this authorization
    authentication_requested: bool = False  # the gateway asked for 3-D Secure


@dataclass(frozen=True)
class NetworkReply:
    code: str  # a NetworkCode, or anything else to test the unknown-code path
    delivery: Delivery = Delivery.DELIVERED
    dispute_after_capture: DisputeReason | None = None  # the issuer will charge it back


NetworkHandler = Callable[[NetworkRequest], NetworkReply]

APPROVE = NetworkReply(NetworkCode.APPROVED)

CHALLENGE_CARD = "4000002760003184"
# The test cards of API.md, by number. Every other Luhn-valid number is approved.
TEST_CARDS: dict[str, NetworkReply] = {
    "4000000000000002": NetworkReply(NetworkCode.DO_NOT_HONOR),
    "4000000000009995": NetworkReply(NetworkCode.INSUFFICIENT_FUNDS),
    "4000000000000069": NetworkReply(NetworkCode.EXPIRED_CARD),
    "4000000000000127": NetworkReply(NetworkCode.CVV_MISMATCH),
    "4000000000000119": NetworkReply(NetworkCode.SYSTEM_MALFUNCTION),
    # Approved and recorded, but the reply never arrives: the outcome is unknown until
    # the gateway asks again (lookup, or the same authorize).
    "4000000000000408": NetworkReply(NetworkCode.APPROVED, delivery=Delivery.REPLY_LOST),
    # Also blocked by the gateway's own risk engine (core.risk) before any call here.
    "4100000000000019": NetworkReply(NetworkCode.ACQUIRER_RISK_BLOCK),
    "4000000000000259": NetworkReply(
        NetworkCode.APPROVED, dispute_after_capture=DisputeReason.FRAUDULENT
    ),
}


def luhn_valid(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        digit = int(ch)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def default_handler(request: NetworkRequest) -> NetworkReply:
    """The network as API.md documents it for test mode."""
    if request.kind is not RequestKind.AUTHORIZE or request.card is None:
        return APPROVE
    number = request.card.number.reveal()
    if not luhn_valid(number):
        return NetworkReply(NetworkCode.INVALID_CARD_NUMBER)
    if (number == CHALLENGE_CARD or request.authentication_requested) and not request.authenticated:
        return NetworkReply(NetworkCode.AUTHENTICATION_REQUIRED)
    if number == CHALLENGE_CARD:
        return APPROVE
    if number in TEST_CARDS:
        return TEST_CARDS[number]
    card = request.card
    if (card.exp_year, card.exp_month) < (request.today.year, request.today.month):
        return NetworkReply(NetworkCode.EXPIRED_CARD)
    return APPROVE


@dataclass
class _CardAttempt(AttemptRecord):
    pending_request: AuthorizationRequest | None = None  # while a challenge is pending
    dispute_after_capture: DisputeReason | None = None
    # The network's answer once the challenge passes: what a restart keeps of a pending
    # challenge instead of the card.
    authenticated_reply: NetworkReply | None = None


class CardNetworkSimulator(SimulatedAcquirer[_CardAttempt]):
    """An in-memory card network implementing the Acquirer and DisputeFeed ports."""

    reference_prefix = "simnet"

    def __init__(
        self,
        handler: NetworkHandler = default_handler,
        *,
        challenge_base_url: str = "http://127.0.0.1:8080",
        latency: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock | None = None,
        on_settled: SettledCallback | None = None,
        journal: BooksJournal | None = None,
    ) -> None:
        self._handler = handler
        self._challenge_base_url = challenge_base_url.rstrip("/")
        self._disputes: list[AcquirerDispute] = []
        super().__init__(
            latency=latency, sleep=sleep, clock=clock, on_settled=on_settled, journal=journal
        )

    def challenge_url(self, attempt_reference: str) -> str:
        return f"{self._challenge_base_url}/3ds/{quote(attempt_reference, safe='')}"

    # --- Acquirer ----------------------------------------------------------------------

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        card = request.source
        if not isinstance(card, Card):
            raise AcquirerRejected(
                RejectionCode.UNSUPPORTED_PAYMENT_SOURCE, "The card network takes cards only."
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
            reply = self._handler(self._network_request(RequestKind.AUTHORIZE, request))
            if reply.delivery is Delivery.REQUEST_LOST:
                raise AcquirerTimeout(request.attempt_reference)
            result = self._result(
                request.attempt_reference,
                request.amount,
                new_reference(self.reference_prefix),
                reply.code,
                meaning_of(reply.code),
            )
            pending = not result.is_final
            self._records[request.attempt_reference] = _CardAttempt(
                merchant_id=request.merchant_id,
                fingerprint=fingerprint,
                result=result,
                pending_request=request if pending else None,
                dispute_after_capture=reply.dispute_after_capture,
                authenticated_reply=(
                    self._handler(
                        self._network_request(RequestKind.AUTHORIZE, request, authenticated=True)
                    )
                    if pending and self._journal is not None
                    else None
                ),
            )
            record = self._records[request.attempt_reference]
            sale_lost = self._saved_with_sale(record, request)
            result = record.result
        if reply.delivery is Delivery.REPLY_LOST or sale_lost:
            raise AcquirerTimeout(request.attempt_reference)
        return result

    async def complete_challenge(self, attempt_reference: str, passed: bool) -> AuthorizationResult:
        await self._simulate_latency()
        reply: NetworkReply | None = None
        async with self._lock:
            record = self._require(attempt_reference)
            if record.result.is_final:
                return record.result
            if record.result.outcome is not AuthorizationOutcome.REQUIRES_ACTION:
                raise AcquirerRejected(
                    RejectionCode.NO_ACTION_PENDING, f"{attempt_reference} awaits no challenge."
                )
            pending = record.pending_request
            if pending is None and record.authenticated_reply is None:
                raise AcquirerRejected(
                    RejectionCode.NO_ACTION_PENDING, f"{attempt_reference} awaits no challenge."
                )
            status = ThreeDSStatus.AUTHENTICATED if passed else ThreeDSStatus.NOT_AUTHENTICATED
            verdict = THREE_DS_RESULTS[status]
            if verdict is None:
                reply = (
                    self._handler(
                        self._network_request(RequestKind.AUTHORIZE, pending, authenticated=True)
                    )
                    if pending is not None
                    else record.authenticated_reply
                )
                assert reply is not None  # one of the two was checked above
                if reply.delivery is Delivery.REQUEST_LOST:
                    raise AcquirerTimeout(attempt_reference)
                code, verdict = reply.code, meaning_of(reply.code)
                record.dispute_after_capture = reply.dispute_after_capture
            else:
                code = status.value
            result = self._result(
                attempt_reference,
                record.result.amount,
                record.result.acquirer_reference,
                code,
                verdict,
            )
            record.result = result
            if result.is_final:
                record.pending_request = None
                record.authenticated_reply = None
            self._save(attempt_reference)
        if reply is not None and reply.delivery is Delivery.REPLY_LOST:
            raise AcquirerTimeout(attempt_reference)
        return result

    # --- DisputeFeed -------------------------------------------------------------------

    async def disputes_since(self, sequence: int = 0) -> Sequence[AcquirerDispute]:
        async with self._lock:
            return [d for d in self._disputes if d.sequence > sequence]

    # --- hooks and helpers -------------------------------------------------------------

    def _answer_operation(
        self, kind: OperationKind, record: _CardAttempt, amount: Money
    ) -> OperationAnswer:
        reply = self._handler(
            NetworkRequest(
                kind=RequestKind(kind.value),
                attempt_reference=record.result.attempt_reference,
                merchant_id=record.merchant_id,
                amount=amount,
                today=self._clock.now().date(),
            )
        )
        status, failure_code = operation_status(reply.code)
        return OperationAnswer(status, failure_code, reply.code, reply.delivery)

    def _on_captured(self, record: _CardAttempt, capture: OperationResult) -> None:
        if record.dispute_after_capture is None:
            return
        dispute = AcquirerDispute(
            sequence=len(self._disputes) + 1,
            dispute_reference=new_reference(f"{self.reference_prefix}_dp"),
            attempt_reference=capture.attempt_reference,
            capture_reference=capture.reference,
            merchant_id=record.merchant_id,
            amount=capture.amount,
            reason=record.dispute_after_capture,
            opened_at=self._clock.now(),
        )
        self._disputes.append(dispute)
        if self._journal is not None:
            self._journal.dispute(dispute)

    def _on_canceled(self, attempt_reference: str) -> None:
        record = self._records[attempt_reference]
        record.pending_request = None
        record.authenticated_reply = None

    # --- the books on disk -------------------------------------------------------------

    def _restore(self, books: Books) -> None:
        super()._restore(books)
        self._disputes = list(books.disputes)

    def _record_from(self, state: AttemptState) -> _CardAttempt:
        common = record_from(state)
        extra = state.extra
        dispute = extra.get("dispute_after_capture")
        reply_code = extra.get("authenticated_code")
        reply_dispute = extra.get("authenticated_dispute")
        return _CardAttempt(
            **vars(common),
            dispute_after_capture=DisputeReason(dispute) if dispute else None,
            authenticated_reply=(
                NetworkReply(
                    str(reply_code),
                    dispute_after_capture=DisputeReason(reply_dispute) if reply_dispute else None,
                )
                if reply_code
                else None
            ),
        )

    def _extra_of(self, record: _CardAttempt) -> dict[str, str | float]:
        extra: dict[str, str | float] = {}
        if record.dispute_after_capture is not None:
            extra["dispute_after_capture"] = record.dispute_after_capture.value
        reply = record.authenticated_reply
        if reply is not None:
            extra["authenticated_code"] = reply.code
            if reply.dispute_after_capture is not None:
                extra["authenticated_dispute"] = reply.dispute_after_capture.value
        return extra

    def _network_request(
        self, kind: RequestKind, request: AuthorizationRequest, *, authenticated: bool = False
    ) -> NetworkRequest:
        card = request.source
        return NetworkRequest(
            kind=kind,
            attempt_reference=request.attempt_reference,
            merchant_id=request.merchant_id,
            amount=request.amount,
            today=self._clock.now().date(),
            card=card if isinstance(card, Card) else None,
            authenticated=authenticated,
            authentication_requested=request.require_authentication,
        )

    def _result(
        self,
        attempt_reference: str,
        amount: Money,
        acquirer_reference: str,
        code: str,
        meaning: CodeMeaning,
    ) -> AuthorizationResult:
        approved = meaning.outcome is AuthorizationOutcome.APPROVED
        action = meaning.outcome is AuthorizationOutcome.REQUIRES_ACTION
        return AuthorizationResult(
            attempt_reference=attempt_reference,
            outcome=meaning.outcome,
            amount=amount,
            acquirer_reference=acquirer_reference,
            decline_code=meaning.decline_code,
            acquirer_code=code,
            authorization_code=f"{secrets.randbelow(1_000_000):06d}" if approved else "",
            message=meaning.message,
            next_action=(
                NextAction(
                    type=NextActionType.REDIRECT_TO_URL, url=self.challenge_url(attempt_reference)
                )
                if action
                else None
            ),
        )


if TYPE_CHECKING:  # mypy proves the simulator fits the ports
    _acquirer: Acquirer = CardNetworkSimulator()
    _feed: DisputeFeed = CardNetworkSimulator()
