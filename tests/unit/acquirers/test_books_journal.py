"""The simulators' books on disk: a simulator started again on the same journal forgets
nothing (authorizations, captures, refunds, voids, pending challenges and collects,
settlement lines, disputes) and never writes a card number."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers import wire
from core.payments.acquirer import (
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationRequest,
    CaptureRequest,
    Card,
    OperationStatus,
    RefundRequest,
    RejectionCode,
    Upi,
    VoidRequest,
)
from core.shared.money import Money
from core.shared.secret import Secret
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from sandbox.acquirer.books_journal import AttemptState, BooksJournal
from tests.fakes import FixedClock

MERCHANT = "acct_books"
_refs = itertools.count(1)
Out = AuthorizationOutcome


def ref(prefix: str = "pa") -> str:
    return f"{prefix}_books_{next(_refs):06d}"


def card_request(number: str, amount: int = 5000) -> AuthorizationRequest:
    card = Card(Secret(number), exp_month=12, exp_year=2099, brand="visa", cvc=Secret("271"))
    return AuthorizationRequest(ref(), MERCHANT, Money(amount, "EUR"), card)


def network(directory: Path, clock: FixedClock) -> CardNetworkSimulator:
    return CardNetworkSimulator(clock=clock, journal=BooksJournal(directory, "card_network"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 3, 10, 0, tzinfo=UTC))


async def test_a_restarted_network_captures_and_refunds_what_it_authorized_before(
    tmp_path: Path, clock: FixedClock
) -> None:
    before = network(tmp_path, clock)
    request = card_request("4242424242424242")
    approved = await before.authorize(request)
    first = CaptureRequest(
        request.attempt_reference, ref("cap"), MERCHANT, Money(2000, "EUR"), False
    )
    captured = await before.capture(first)
    voided = card_request("5555555555554444")
    await before.authorize(voided)
    await before.void(VoidRequest(voided.attempt_reference, MERCHANT))

    after = network(tmp_path, clock)
    assert await after.lookup(request.attempt_reference) == approved
    # The same authorization again is recognized (the fingerprint key was kept).
    assert await after.authorize(request) == approved
    assert await after.capture(first) == captured  # a repeat answers the recorded result
    rest = CaptureRequest(request.attempt_reference, ref("cap"), MERCHANT, Money(3000, "EUR"))
    assert (await after.capture(rest)).status is OperationStatus.SUCCEEDED
    with pytest.raises(AcquirerRejected) as refused:
        await after.capture(
            CaptureRequest(request.attempt_reference, ref("cap"), MERCHANT, Money(1, "EUR"))
        )
    assert refused.value.code is RejectionCode.ALREADY_CAPTURED
    refund = RefundRequest(request.attempt_reference, ref("re"), MERCHANT, Money(500, "EUR"))
    assert (await after.refund(refund)).status is OperationStatus.SUCCEEDED
    with pytest.raises(AcquirerRejected) as voided_twice:
        await after.capture(
            CaptureRequest(voided.attempt_reference, ref("cap"), MERCHANT, Money(1, "EUR"))
        )
    assert voided_twice.value.code is RejectionCode.ALREADY_VOIDED

    again = network(tmp_path, clock)
    lines = await again.settlement_records(clock.now().date())
    assert [(r.kind.value, r.amount.amount) for r in lines] == [
        ("CAPTURE", 2000),
        ("CAPTURE", 3000),
        ("REFUND", 500),
    ]


async def test_a_pending_challenge_survives_a_restart_without_the_card_on_disk(
    tmp_path: Path, clock: FixedClock
) -> None:
    request = card_request("4000002760003184")
    challenged = await network(tmp_path, clock).authorize(request)
    assert challenged.outcome is Out.REQUIRES_ACTION
    passed = await network(tmp_path, clock).complete_challenge(request.attempt_reference, True)
    assert passed.outcome is Out.APPROVED
    journal = readable(tmp_path / "card_network.jsonl")
    assert request.attempt_reference in journal  # the messages were decoded
    assert "4000002760003184" not in journal
    assert '"cvc"' not in journal and '"number"' not in journal


# The wire messages of a line by its key, for reading a journal as text.
_MESSAGES: dict[str, type[Message]] = {
    "result": pb.AuthorizationResult,
    "captures": pb.OperationResult,
    "refunds": pb.OperationResult,
    "void": pb.OperationResult,
    "settled": pb.SettlementRecord,
    "dispute": pb.Dispute,
}


def readable(path: Path) -> str:
    """The journal with every message in its JSON mapping: the raw lines, and each
    base64 message decoded (a card number would show in either)."""

    def expand(value: object, kind: type[Message] | None) -> object:
        if isinstance(value, str) and kind is not None:
            message = kind.FromString(base64.b64decode(value))
            return json_format.MessageToDict(message, preserving_proto_field_name=True)
        if isinstance(value, list):
            return [expand(v, kind) for v in value]
        if isinstance(value, dict):
            return {k: expand(v, _MESSAGES.get(k)) for k, v in value.items()}
        return value

    raw = path.read_text()
    lines = [json.dumps(expand(json.loads(text), None)) for text in raw.splitlines()]
    return "\n".join([raw, *lines])


async def test_a_sale_survives_a_restart_captured_once(tmp_path: Path, clock: FixedClock) -> None:
    request = card_request("4000000000000259")  # approved, disputed after its capture
    sale = replace(request, capture_reference=f"{request.attempt_reference}_capture_1")
    made = await network(tmp_path, clock).authorize(sale)
    assert made.capture is not None and made.capture.status is OperationStatus.SUCCEEDED

    after = network(tmp_path, clock)
    assert await after.lookup(request.attempt_reference) == made
    assert await after.authorize(sale) == made  # the same sale again: captured once
    again = CaptureRequest(
        request.attempt_reference, sale.capture_reference, MERCHANT, Money(5000, "EUR")
    )
    assert await after.capture(again) == made.capture
    lines = await after.settlement_records(clock.now().date())
    assert [(r.reference, r.amount.amount) for r in lines] == [(sale.capture_reference, 5000)]
    [dispute] = await after.disputes_since(0)
    assert dispute.capture_reference == sale.capture_reference


async def test_disputes_are_kept(tmp_path: Path, clock: FixedClock) -> None:
    before = network(tmp_path, clock)
    request = card_request("4000000000000259")
    await before.authorize(request)
    await before.capture(
        CaptureRequest(request.attempt_reference, ref("cap"), MERCHANT, Money(5000, "EUR"))
    )
    [dispute] = await network(tmp_path, clock).disputes_since(0)
    assert dispute.attempt_reference == request.attempt_reference


async def test_a_pending_collect_ends_after_a_restart(tmp_path: Path, clock: FixedClock) -> None:
    def switch() -> UpiSimulator:
        return UpiSimulator(
            approval_delay=0.0, clock=clock, journal=BooksJournal(tmp_path, "upi_switch")
        )

    payer = AuthorizationRequest(ref(), MERCHANT, Money(900, "INR"), Upi("someone@okaxis"))
    async with switch() as before:
        assert (await before.authorize(payer)).outcome is Out.REQUIRES_ACTION
    async with switch() as after:
        approved = await after.complete_challenge(payer.attempt_reference, True)
        assert approved.outcome is Out.APPROVED
    quick = AuthorizationRequest(ref(), MERCHANT, Money(900, "INR"), Upi("success@upi"))
    async with switch() as before:
        await before.authorize(quick)
    # Restarted before its timer ran: the timer is started again and the collect ends.
    async with switch() as after:
        settled = await after.settled(quick.attempt_reference)
        assert settled is not None and settled.outcome is Out.APPROVED
    async with switch() as later:
        found = await later.lookup(quick.attempt_reference)
        assert found is not None and found.outcome is Out.APPROVED


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path, clock: FixedClock) -> None:
    journal = BooksJournal(tmp_path, "card_network")
    journal.path.write_text('{"attempt": {"reference": "pa_x", "merch')
    assert journal.read().attempts == {}


async def test_changes_go_to_the_file_as_they_are_made_and_after_a_close(
    tmp_path: Path, clock: FixedClock
) -> None:
    journal = BooksJournal(tmp_path, "card_network")
    before = CardNetworkSimulator(clock=clock, journal=journal)
    first = card_request("4242424242424242")
    await before.authorize(first)
    # Read while the writer still holds the file open: the line is there already.
    assert list(BooksJournal(tmp_path, "card_network").read().attempts) == [first.attempt_reference]
    before.close_journal()
    second = card_request("5555555555554444")
    await before.authorize(second)  # opens the file again, appending
    before.close_journal()
    books = BooksJournal(tmp_path, "card_network").read()
    assert list(books.attempts) == [first.attempt_reference, second.attempt_reference]
    assert len((tmp_path / "card_network.jsonl").read_text().splitlines()) == 2


async def test_a_journal_written_in_the_json_mapping_is_taken_up(
    tmp_path: Path, clock: FixedClock
) -> None:
    """Journals written before the binary encoding: every message in protobuf's JSON
    mapping. A network started on one forgets nothing of it."""
    source = tmp_path / "source"
    made = network(source, clock)
    request = card_request("4000000000000259")  # approved, disputed after its capture
    sale = replace(request, capture_reference=f"{request.attempt_reference}_capture_1")
    result = await made.authorize(sale)
    books = BooksJournal(source, "card_network").read()

    def mapping(message: Message) -> dict[str, object]:
        as_dict: dict[str, object] = json_format.MessageToDict(
            message, preserving_proto_field_name=True
        )
        return as_dict

    state: AttemptState = books.attempts[request.attempt_reference]
    lines = [
        {
            "attempt": {
                "reference": request.attempt_reference,
                "merchant_id": state.merchant_id,
                "fingerprint": state.fingerprint,
                "result": mapping(wire.authorization_result(state.result)),
                "captures": [mapping(wire.operation_result(c)) for c in state.captures],
                "refunds": [],
                "void": None,
                "final_capture_done": state.final_capture_done,
                "extra": state.extra,
            }
        },
        *({"settled": mapping(wire.settlement_record(r))} for r in books.settlement),
        *({"dispute": mapping(wire.dispute(d))} for d in books.disputes),
    ]
    old = tmp_path / "old"
    old.mkdir()
    (old / "card_network.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (old / "card_network.key").write_text((source / "card_network.key").read_text())

    taken_up = network(old, clock)
    assert await taken_up.lookup(request.attempt_reference) == result
    assert await taken_up.authorize(sale) == result  # the same sale: captured once
    settled = await taken_up.settlement_records(clock.now().date())
    assert [(r.reference, r.amount.amount) for r in settled] == [(sale.capture_reference, 5000)]
    [dispute] = await taken_up.disputes_since(0)
    assert dispute.capture_reference == sale.capture_reference
