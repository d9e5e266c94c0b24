"""Reconciliation of a day against the in-memory ledger and payments, and the acquirer's
settlement file as the card network simulator writes it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.acquirers import settlement_file
from adapters.acquirers.settlement_file import SettlementJournal
from adapters.system import RandomIds
from core.ledger.reconciliation import DifferenceKind, ReconciliationReport, reconcile
from core.payments.model import CaptureMethod, PaymentIntent, Status
from core.shared.money import Money
from tests.fakes.reconciliation import MemoryReconciliationSource
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.ledger_traffic import PaymentsStandIn

DAY = datetime(2026, 3, 3, tzinfo=UTC)
M = "acct_recon"


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def payments(uow: MemoryUnitOfWorkFactory) -> PaymentsStandIn:
    return PaymentsStandIn(uow, RandomIds(), DAY)


async def _traffic(payments: PaymentsStandIn) -> None:
    first = await payments.charge(M, 10_000, "USD", at=DAY + timedelta(hours=9))
    await payments.charge(M, 2500, "USD", at=DAY + timedelta(hours=10))
    await payments.refund(first, 4000, at=DAY + timedelta(hours=11))


def _file(payments: PaymentsStandIn, day: datetime = DAY) -> str:
    return settlement_file.render(payments.acquirer.settlement, day.date())


async def _reconcile(
    uow: MemoryUnitOfWorkFactory, text: str, day: datetime = DAY, previous: str = ""
) -> ReconciliationReport:
    lines, malformed = settlement_file.parse(text, day=day.date())
    before, _ = settlement_file.parse(previous, day=(day - timedelta(days=1)).date())
    return await reconcile(
        MemoryReconciliationSource(uow.store),
        day.date(),
        lines,
        malformed=malformed,
        previous_lines=before if previous else (),
    )


def _kinds(report: ReconciliationReport) -> list[DifferenceKind]:
    return [d.kind for d in report.differences]


async def test_a_healthy_day_has_no_differences(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    report = await _reconcile(uow, _file(payments))
    assert report.differences == []
    assert (report.ledger_movements, report.acquirer_lines, report.payments_checked) == (3, 3, 2)
    assert report.ledger_totals == report.acquirer_totals == {"USD": 10_000 + 2500 - 4000}
    # Another day: nothing in the ledger, an empty file.
    empty = await _reconcile(uow, _file(payments, DAY + timedelta(days=1)), DAY + timedelta(days=1))
    assert (empty.differences, empty.ledger_movements) == ([], 0)


async def test_a_corrupted_line_is_reported_with_its_number(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    rows = _file(payments).split("\r\n")
    rows[2] = rows[2].replace(",2500,", ",2501,")  # the second capture
    rows[3] = "REFUND,re_x,pa_x,acct_recon,not-a-number,USD,simnet,2026-03-03T11:00:00Z"
    report = await _reconcile(uow, "\r\n".join(rows))
    assert sorted(_kinds(report)) == sorted(
        [
            DifferenceKind.MALFORMED_LINE,  # line 4 unreadable...
            DifferenceKind.MISSING_AT_ACQUIRER,  # ...so the refund is missing from the file
            DifferenceKind.AMOUNT_MISMATCH,  # line 3 says 2501
        ]
    )
    by_kind = {d.kind: d for d in report.differences}
    assert by_kind[DifferenceKind.AMOUNT_MISMATCH].line == 3
    assert "2500 USD, acquirer 2501 USD" in by_kind[DifferenceKind.AMOUNT_MISMATCH].detail
    assert by_kind[DifferenceKind.MALFORMED_LINE].line == 4
    assert "amount 'not-a-number'" in by_kind[DifferenceKind.MALFORMED_LINE].detail


async def test_missing_extra_and_duplicate_lines(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    rows = [r for r in _file(payments).split("\r\n") if r]
    extra = rows[1].replace(rows[1].split(",")[1], "pa_ghost_cap1")
    text = "\r\n".join([rows[0], rows[1], rows[1], rows[3], extra]) + "\r\n"  # no line 2
    report = await _reconcile(uow, text)
    assert sorted(_kinds(report)) == sorted(
        [
            DifferenceKind.DUPLICATE_LINE,
            DifferenceKind.MISSING_AT_ACQUIRER,
            DifferenceKind.MISSING_IN_LEDGER,
        ]
    )
    ghost = next(d for d in report.differences if d.kind is DifferenceKind.MISSING_IN_LEDGER)
    assert (ghost.reference, ghost.line) == ("pa_ghost_cap1", 5)


async def test_payments_that_disagree_with_the_ledger(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    ids = RandomIds()
    async with uow() as unit:
        # A payment that succeeded with money received, but no capture entry...
        orphan = PaymentIntent.create(
            id=ids.new("pi"), merchant_id=M, amount=700, currency="USD",
            capture_method=CaptureMethod.AUTOMATIC, client_secret="s", livemode=False,
            created=DAY + timedelta(hours=12), actor="key_x",
        )  # fmt: skip
        orphan.transition(Status.PROCESSING, actor="key_x", at=DAY + timedelta(hours=12))
        orphan.transition(Status.SUCCEEDED, actor="key_x", at=DAY + timedelta(hours=12))
        orphan.amount_received = 700
        await unit.payment_intents.add(orphan)
        await unit.payment_events.append(orphan.pull_events())
        # ...and one whose refunded amount was changed behind the ledger's back.
        listed = await unit.payment_intents.list(M, limit=10, status=Status.SUCCEEDED)
        refunded = next(i for i in listed if i.amount_refunded)
        refunded.amount_refunded += 1
        await unit.payment_intents.update(refunded)
        await unit.commit()
    report = await _reconcile(uow, _file(payments))
    assert sorted(_kinds(report)) == sorted(
        [DifferenceKind.CAPTURE_NOT_POSTED, DifferenceKind.REFUNDED_MISMATCH]
    )
    assert {d.payment_intent_id for d in report.differences} == {orphan.id, refunded.id}


async def test_a_capture_straddling_midnight_is_matched_across_the_two_days(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    late = DAY + timedelta(days=1) - timedelta(microseconds=100)
    await payments.charge(M, 990, "USD", at=late)
    # The ledger posted it just after midnight (the acquirer answered first).
    entry = next(iter(uow.store.tables.ledger.entries.values()))
    moved = replace(entry, created=DAY + timedelta(days=1, microseconds=100))
    uow.store.tables.ledger.entries[entry.id] = moved
    on_day = await _reconcile(uow, _file(payments))
    next_day = DAY + timedelta(days=1)
    after = await _reconcile(uow, _file(payments, next_day), next_day, previous=_file(payments))
    assert (on_day.differences, after.differences) == ([], [])
    assert (on_day.ledger_movements, after.ledger_movements) == (0, 1)


def test_the_file_round_trips_and_refuses_what_it_cannot_read() -> None:
    text = (
        "type,reference,attempt_reference,merchant_id,amount,currency,acquirer_reference,"
        "settled_at\r\n"
        "CAPTURE,pa_1_cap1,pa_1,acct_1,1000,EUR,simnet_cap_1,2026-03-03T10:00:00Z\r\n"
        "VOID,pa_2,pa_2,acct_1,1000,EUR,simnet_void,2026-03-03T10:00:00Z\r\n"
        "REFUND,re_1,pa_1,acct_1,10,XXX,simnet_ref,2026-03-03T10:00:00Z\r\n"
        "REFUND,re_2,pa_1,acct_1,10,EUR,simnet_ref,2026-03-04T00:00:00Z\r\n"
        "REFUND,re_3,pa_1,acct_1,10,EUR,simnet_ref,yesterday\r\n"
        "REFUND,,pa_1,acct_1,10,EUR,simnet_ref,2026-03-03T10:00:00Z\r\n"
        "REFUND,re_4,pa_1,acct_1,10\r\n"
    )
    lines, malformed = settlement_file.parse(text, day=DAY.date(), name="f.csv")
    assert [(line.reference, line.amount, line.line) for line in lines] == [
        ("pa_1_cap1", Money(1000, "EUR"), 2)
    ]
    assert [m.line for m in malformed] == [3, 4, 5, 6, 7, 8]
    assert all(m.problem.startswith("f.csv: ") for m in malformed)
    assert settlement_file.parse("nonsense\r\n")[1][0].problem.startswith("the header is not")


async def test_each_process_journals_its_own_file_and_a_day_reads_them_all(
    tmp_path: Path, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    operations = payments.acquirer.settlement
    SettlementJournal(tmp_path, process="api-0")(operations[0])
    for operation in operations[1:]:
        SettlementJournal(tmp_path, process="api-1")(operation)
    files = settlement_file.day_files(tmp_path, DAY.date())
    assert [f.name for f in files] == [
        "settlement-2026-03-03.api-0.csv",
        "settlement-2026-03-03.api-1.csv",
    ]
    lines, malformed = settlement_file.read_day(files, DAY.date())
    assert malformed == []
    assert [line.reference for line in lines] == [o.reference for o in operations]
    written = settlement_file.write_day(tmp_path / "one", operations, DAY.date())
    (one_file, _) = settlement_file.read_day([written], DAY.date())
    assert [replace(line, line=0) for line in one_file] == [replace(x, line=0) for x in lines]


async def test_each_difference_and_match_is_told_to_its_acquirer(
    uow: MemoryUnitOfWorkFactory, payments: PaymentsStandIn
) -> None:
    await _traffic(payments)
    rows = _file(payments).split("\r\n")
    del rows[3]  # the refund's line: Orbit's file lacks it
    rows.append("CAPTURE,cap_stray,pa_x,acct_recon,700,USD,ch_1,2026-03-03T12:00:00Z")
    lines, malformed = settlement_file.parse("\r\n".join(rows), day=DAY.date(), acquirer="orbit")
    report = await reconcile(
        MemoryReconciliationSource(uow.store),
        DAY.date(),
        lines,
        malformed=malformed,
        acquirers=["card_network_simulator", "orbit"],
    )
    assert sorted((d.kind, d.acquirer) for d in report.differences) == [
        # The refund has no line, and the payments here name no acquirer.
        (DifferenceKind.MISSING_AT_ACQUIRER, ""),
        (DifferenceKind.MISSING_IN_LEDGER, "orbit"),  # the stray line: whose file it is in
    ]
    parts = {p.acquirer: (p.matched, p.acquirer_lines, p.differences) for p in report.acquirers}
    # Every expected acquirer is reported, even one that moved nothing; matched captures
    # count where their lines came from.
    assert parts == {
        "card_network_simulator": (0, 0, 0),
        "orbit": (2, 3, 1),
        "(unknown)": (0, 0, 1),
    }
    assert [p.acquirer for p in report.acquirers][:2] == ["card_network_simulator", "orbit"]
    assert report.acquirers[1].as_dict()["acquirer_totals"] == {"USD": 10_000 + 2500 + 700}


def test_a_file_named_for_an_acquirer_is_its(tmp_path: Path) -> None:
    day = DAY.date()
    named = settlement_file.write_day(tmp_path, [], day, "kora")
    assert named.name == "settlement-2026-03-03.kora.csv"
    assert settlement_file.acquirer_of(named, day, ["kora", "orbit"]) == "kora"
    # A process's journal, or a combined file, is nobody's in particular.
    journal = tmp_path / settlement_file.file_name(day, "api-0")
    assert settlement_file.acquirer_of(journal, day, ["kora"]) == ""
    assert (
        settlement_file.acquirer_of(tmp_path / settlement_file.file_name(day), day, ["kora"]) == ""
    )
