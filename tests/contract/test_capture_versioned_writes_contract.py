"""A manual capture's phase 3 (the acquirer's answer with the intent and the attempt, the
ledger's entry, the outbox's event) is written at the versions its phase 1 returned, with
no locking read first: on PostgreSQL one statement sent alone (adapters/sql/held.py).
Whatever moves the intent or the attempt during the acquirer call (recovery settling the
same capture, a lease, an update) makes it write nothing, and the answer is applied to
the pair read locked, as before: one capture, one posting, one event, on the fake and on
PostgreSQL (docs/payments.md, "Capture").

Round trips are counted as asyncpg's writes to the server's socket
(tests/contract/round_trips.py), on a warm connection: deterministic, whatever the load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.acquirer import (
    AcquirerRejected,
    RejectionCode,
)
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, CaptureMethod, PaymentIntent, Status
from core.payments.use_cases import CreatePaymentIntent, UpdatePaymentIntent
from core.shared.errors import FailedPrecondition
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.confirm_shop import Hook, Shop, books_of, shop_of
from tests.contract.helpers import add_merchant
from tests.contract.round_trips import CountedPool
from tests.fakes import FixedClock

# Its deliveries fall due long after any other test's clock: on the shared database they
# must not crowd another test's claim (test_events_contract.py).
_LATER = datetime(2100, 1, 1, tzinfo=UTC)


class _Shop(Shop):
    async def authorized(self) -> PaymentIntent:
        """A MANUAL intent, confirmed: REQUIRES_CAPTURE."""
        intent = await self.intents.create(
            self.key,
            CreatePaymentIntent(
                amount=self.amount, currency=self.currency, capture_method=CaptureMethod.MANUAL
            ),
        )
        confirmed = await self.payments.confirm(
            self.key, intent.id, ConfirmPaymentIntent(payment_method=self.token())
        )
        assert confirmed.status is Status.REQUIRES_CAPTURE
        return confirmed

    async def capture(self, intent: PaymentIntent, amount: int = 0) -> PaymentIntent:
        return await self.payments.capture(self.key, intent.id, amount)


def _shop(uow: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    clock = FixedClock(_LATER)
    ids = RandomIds()
    return shop_of(
        _Shop,
        uow,
        merchant_id,
        clock,
        actor="key_capture",
        amount=2_000,
        currency="usd",
        books=books_of(ids, clock),
        ids=ids,
    )


@pytest.fixture
def shop(any_uow_factory: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    return _shop(any_uow_factory, merchant_id)


async def _captured_once(shop: _Shop, intent: PaymentIntent, captured: PaymentIntent) -> None:
    """The capture is written once: SUCCEEDED, one SUCCEEDED line and one event, at the
    version the call answered."""
    assert captured.status is Status.SUCCEEDED and captured.amount_received == 2_000
    stored, attempts, history, _, events = await shop.written(intent.id)
    assert stored.status is Status.SUCCEEDED and stored.version == captured.version
    assert attempts == [AttemptStatus.CAPTURED]
    assert history.count(Status.SUCCEEDED) == 1
    assert events.count("payment_intent.succeeded") == 1


def _locked_reads(shop: _Shop, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the attempts whose pair the lifecycle reads FOR UPDATE from now on."""
    read: list[str] = []
    locked_pair = shop.payments._locked_pair

    async def counted(uow: Any, attempt: Any) -> Any:
        read.append(attempt.id)
        return await locked_pair(uow, attempt)

    monkeypatch.setattr(shop.payments, "_locked_pair", counted)
    return read


async def _entries(shop: _Shop, intent: PaymentIntent) -> int:
    return len((await shop.written(intent.id))[3])


async def test_a_manual_capture_writes_its_answer_once_without_a_locked_read(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()
    before = await _entries(shop, intent)
    locked = _locked_reads(shop, monkeypatch)
    captured = await shop.capture(intent)
    assert locked == []
    await _captured_once(shop, intent, captured)
    assert await _entries(shop, intent) == before + 1


async def test_recovery_settling_the_capture_during_the_call_is_written_once(
    shop: _Shop,
) -> None:
    """Recovery claims the attempt in flight (a new version) and captures it with the same
    reference; the capture's held phase 3 then writes nothing, and finds it done."""
    intent = await shop.authorized()
    before = await _entries(shop, intent)

    async def recover() -> None:
        shop.clock.advance(hours=1)
        assert await shop.payments.recover_stuck_attempts(timedelta(minutes=5)) != []

    shop.network.during_the_capture = recover
    captured = await shop.capture(intent)
    await _captured_once(shop, intent, captured)
    assert await _entries(shop, intent) == before + 1
    assert len(shop.network._records[captured.latest_attempt].captures) == 1


async def _captured_after_a_move(
    shop: _Shop, intent: PaymentIntent, move: Hook, monkeypatch: pytest.MonkeyPatch
) -> PaymentIntent:
    """Captures `intent` while `move` runs during the acquirer call: the held write finds
    a version moved, the pair is read locked once, and the capture is written once."""
    locked = _locked_reads(shop, monkeypatch)
    before = await _entries(shop, intent)
    shop.network.during_the_capture = move
    captured = await shop.capture(intent)
    assert locked == [intent.latest_attempt]
    await _captured_once(shop, intent, captured)
    assert await _entries(shop, intent) == before + 1
    return captured


async def test_an_attempt_moved_during_the_call_is_captured_once_on_the_rows_read_again(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()

    async def lease() -> None:
        # What recovery's claim does to an attempt in flight: a new version, nothing else.
        async with shop.uow() as uow:
            pair = await uow.payment_attempts.locked_with_intent(
                shop.merchant_id, intent.latest_attempt
            )
            assert pair is not None
            await uow.payment_attempts.update(pair[1])
            await uow.commit()

    await _captured_after_a_move(shop, intent, lease, monkeypatch)


async def test_an_intent_moved_during_the_call_is_captured_once_and_keeps_the_change(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()

    async def update() -> None:
        change = UpdatePaymentIntent(metadata={"order": "42"})
        await shop.intents.update(shop.key, intent.id, change)

    captured = await _captured_after_a_move(shop, intent, update, monkeypatch)
    assert captured.metadata == {"order": "42"}


async def test_a_refused_capture_is_written_held_and_the_intent_can_be_captured_again(
    shop: _Shop,
) -> None:
    """The acquirer refuses: the held phase 3 writes the refusal (back to
    REQUIRES_CAPTURE, no posting, no succeeded event), and a second capture succeeds."""
    intent = await shop.authorized()
    before = await _entries(shop, intent)

    async def refuse() -> None:
        raise AcquirerRejected(RejectionCode.NOT_AUTHORIZED, "Refused by the network.")

    shop.network.during_the_capture = refuse
    with pytest.raises(FailedPrecondition) as refused:
        await shop.capture(intent)
    assert refused.value.reason == "CAPTURE_FAILED"
    stored, attempts, _, _, events = await shop.written(intent.id)
    assert stored.status is Status.REQUIRES_CAPTURE and attempts == [AttemptStatus.AUTHORIZED]
    assert "payment_intent.succeeded" not in events
    assert await _entries(shop, intent) == before
    await _captured_once(shop, intent, await shop.capture(intent))
    assert await _entries(shop, intent) == before + 1


# --- phase 1: written at the versions read ----------------------------------------------


def _between_the_read_and_phase_1(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch, hook: Hook
) -> list[bool]:
    """Runs `hook` once, right after the capture's unlocked read (its unit of work
    closed); answers the `lock` of each read of the pair that follows it."""
    reads: list[bool] = []
    read_capturable = shop.payments._read_capturable
    capturable = shop.payments._capturable

    async def read_then_hook(caller: Any, intent_id: str) -> Any:
        monkeypatch.setattr(shop.payments, "_read_capturable", read_capturable)
        pair = await read_capturable(caller, intent_id)
        await hook()
        monkeypatch.setattr(shop.payments, "_capturable", counted)
        return pair

    async def counted(uow: Any, caller: Any, intent_id: str, *, lock: bool) -> Any:
        reads.append(lock)
        return await capturable(uow, caller, intent_id, lock=lock)

    monkeypatch.setattr(shop.payments, "_read_capturable", read_then_hook)
    return reads


async def test_an_update_between_the_read_and_phase_1_is_kept_and_the_capture_goes_on(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()

    async def update() -> None:
        change = UpdatePaymentIntent(metadata={"order": "7"})
        await shop.intents.update(shop.key, intent.id, change)

    reads = _between_the_read_and_phase_1(shop, monkeypatch, update)
    captured = await shop.capture(intent)
    assert reads == [True]  # the versioned write wrote nothing: read locked again
    await _captured_once(shop, intent, captured)
    assert captured.metadata == {"order": "7"}


async def test_a_capture_between_the_read_and_phase_1_wins_and_the_second_is_refused(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()
    first: list[PaymentIntent] = []

    async def capture() -> None:
        first.append(await shop.capture(intent))

    reads = _between_the_read_and_phase_1(shop, monkeypatch, capture)
    with pytest.raises(FailedPrecondition) as refused:
        await shop.capture(intent)
    assert refused.value.reason == "PAYMENT_INTENT_UNEXPECTED_STATE"
    assert reads == [True]
    await _captured_once(shop, intent, first[0])
    assert len(shop.network._records[intent.latest_attempt].captures) == 1


async def test_a_cancel_between_the_read_and_phase_1_wins_and_nothing_is_captured(
    shop: _Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await shop.authorized()

    async def cancel() -> None:
        await shop.payments.cancel(shop.key, intent.id)

    _between_the_read_and_phase_1(shop, monkeypatch, cancel)
    with pytest.raises(FailedPrecondition) as refused:
        await shop.capture(intent)
    assert refused.value.reason == "PAYMENT_INTENT_UNEXPECTED_STATE"
    stored, attempts, _, _, events = await shop.written(intent.id)
    assert stored.status is Status.CANCELED and attempts == [AttemptStatus.VOIDED]
    assert "payment_intent.succeeded" not in events
    assert shop.network._records[intent.latest_attempt].captures == {}


# --- PostgreSQL: round trips and statements after the acquirer's answer ------------------


@pytest.fixture
async def pool(
    database_url: str, monkeypatch: pytest.MonkeyPatch, span_exporter: InMemorySpanExporter
) -> AsyncIterator[CountedPool]:
    engine = create_engine(database_url, pool_size=1)  # traced: the exporter is on
    counted = CountedPool(engine)
    await counted.count_writes(monkeypatch)
    try:
        yield counted
    finally:
        await engine.dispose()


async def test_the_capture_phases_are_one_statement_alone_each_without_a_locking_read(
    pool: CountedPool, span_exporter: InMemorySpanExporter
) -> None:
    """Phase 3 before: BEGIN, the pair read FOR UPDATE, the answer with its intent, the
    ledger, the event, COMMIT (6 round trips); now one statement alone."""
    factory = SqlUnitOfWorkFactory(pool.engine)
    shop = _shop(factory, await add_merchant(factory, RandomIds()))
    for _ in range(3):  # the terms read once, each statement prepared once per connection
        await shop.capture(await shop.authorized())
    intent = await shop.authorized()
    at_the_call: list[int] = []

    async def count() -> None:
        at_the_call.append(pool.writes)
        span_exporter.clear()

    shop.network.during_the_capture = count
    before = pool.writes
    captured = await shop.capture(intent)
    assert captured.status is Status.SUCCEEDED
    # Phase 1 before: BEGIN, the intent and the attempt read FOR UPDATE, the write, the
    # event, COMMIT (6); now the two reads and one statement alone.
    assert at_the_call[0] - before == 3
    assert pool.writes - at_the_call[0] == 1
    sent = [
        str(s.attributes["db.statement"])
        for s in span_exporter.get_finished_spans()
        if s.attributes and "db.statement" in s.attributes
    ]
    assert len(sent) == 1 and "FOR UPDATE" not in sent[0].upper(), sent
