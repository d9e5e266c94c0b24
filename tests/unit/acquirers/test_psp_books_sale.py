"""The JSON PSPs' books (Orbit's, Kora's) make a sale as the card network does: the
capture is answered by the same hook as a capture call's (so it can be refused or its
reply lost), booked once, kept on disk, and answered again by a repeat and a lookup."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.payments.acquirer import (
    AcquirerTimeout,
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    Card,
    DeclineCode,
    OperationKind,
    OperationStatus,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer.books_journal import BooksJournal
from sandbox.acquirer.simulation import AttemptRecord, Delivery, OperationAnswer
from sandbox.psp.card_books import CardPspBooks
from sandbox.psp.kora_simulator import KoraBooks
from sandbox.psp.orbit_simulator import OrbitBooks
from tests.fakes import FixedClock

MERCHANT = "acct_psp_sale"
_refs = itertools.count(1)

BOOKS = pytest.mark.parametrize("kind", [OrbitBooks, KoraBooks], ids=["orbit", "kora"])


def sale(number: str = "4242424242424242") -> AuthorizationRequest:
    reference = f"pa_psp_sale_{next(_refs):06d}"
    card = Card(Secret(number), exp_month=12, exp_year=2099, brand="visa", cvc=Secret("123"))
    return AuthorizationRequest(
        reference, MERCHANT, Money(3000, "EUR"), card, capture_reference=f"{reference}_capture_1"
    )


def answering(kind: type[CardPspBooks], answer: OperationAnswer) -> CardPspBooks:
    """`kind`'s books whose network answers every capture with `answer`."""

    class Faulted(kind):  # type: ignore[valid-type,misc]
        def _answer_operation(
            self, op: OperationKind, record: AttemptRecord, amount: Money
        ) -> OperationAnswer:
            return answer

    books: CardPspBooks = Faulted()
    return books


async def settled(books: CardPspBooks, attempt_reference: str) -> list[str]:
    lines = await books.settlement_records(datetime.now(UTC).date())
    return [r.reference for r in lines if r.attempt_reference == attempt_reference]


@BOOKS
async def test_a_sale_whose_captures_reply_is_lost_is_found_captured_once(
    kind: type[CardPspBooks],
) -> None:
    books = answering(
        kind, OperationAnswer(OperationStatus.SUCCEEDED, delivery=Delivery.REPLY_LOST)
    )
    request = sale()
    with pytest.raises(AcquirerTimeout):
        await books.authorize(request)
    found = await books.lookup(request.attempt_reference)
    assert found is not None and found.outcome is AuthorizationOutcome.APPROVED
    assert found.capture is not None and found.capture.status is OperationStatus.SUCCEEDED
    assert found.capture.reference == request.capture_reference
    # Asked again, the same sale answers what it recorded: no second capture.
    assert await books.authorize(request) == found
    assert await settled(books, request.attempt_reference) == [request.capture_reference]


@BOOKS
async def test_a_sale_whose_capture_is_refused_is_approved_and_settles_nothing(
    kind: type[CardPspBooks],
) -> None:
    books = answering(
        kind, OperationAnswer(OperationStatus.FAILED, DeclineCode.PROCESSING_ERROR, "refused")
    )
    request = sale()
    result = await books.authorize(request)
    assert result.outcome is AuthorizationOutcome.APPROVED
    assert result.capture is not None and result.capture.status is OperationStatus.FAILED
    assert await settled(books, request.attempt_reference) == []


@BOOKS
async def test_a_declined_sale_captures_nothing(kind: type[CardPspBooks]) -> None:
    books = kind()
    request = sale("4000000000009995")
    result = await books.authorize(request)
    assert result.outcome is AuthorizationOutcome.DECLINED and result.capture is None
    assert await settled(books, request.attempt_reference) == []


@BOOKS
async def test_a_sale_survives_a_restart_captured_once(
    kind: type[CardPspBooks], tmp_path: Path
) -> None:
    clock = FixedClock(datetime.now(UTC))
    request = sale()
    made = await kind(clock=clock, journal=BooksJournal(tmp_path, "psp")).authorize(request)
    assert made.capture is not None and made.capture.status is OperationStatus.SUCCEEDED

    after = kind(clock=clock, journal=BooksJournal(tmp_path, "psp"))
    assert await after.lookup(request.attempt_reference) == made
    assert await after.authorize(request) == made
    again = CaptureRequest(
        request.attempt_reference, request.capture_reference, MERCHANT, Money(3000, "EUR")
    )
    assert await after.capture(again) == made.capture
    assert await settled(after, request.attempt_reference) == [request.capture_reference]
    journal = (tmp_path / "psp.jsonl").read_text()
    assert "4242424242424242" not in journal
