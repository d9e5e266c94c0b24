"""A confirm writes its phases at the versions it read, without locking reads: on the fake
and on PostgreSQL, whatever moves the intent or the attempt between two phases wins, and
the confirm decides again on the rows as they stand (docs/payments.md, "Confirm without
the locking reads"). On PostgreSQL alone: the statements and transactions of one
confirm, counted from its SQL spans."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, PaymentIntent, Status
from core.payments.use_cases import UpdatePaymentIntent
from core.shared.errors import FailedPrecondition
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.confirm_shop import Shop, shop_of
from tests.contract.helpers import add_merchant
from tests.fakes import FixedClock


class _Shop(Shop):
    async def confirm(self, intent: PaymentIntent, token: str) -> PaymentIntent:
        return await self.payments.confirm(
            self.key, intent.id, ConfirmPaymentIntent(payment_method=token)
        )


def _shop(uow: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    return shop_of(
        _Shop, uow, merchant_id, FixedClock(), actor="key_versions", amount=1_200, currency="eur"
    )


@pytest.fixture
def shop(any_uow_factory: UnitOfWorkFactory, merchant_id: str) -> _Shop:
    return _shop(any_uow_factory, merchant_id)


async def test_an_update_between_the_load_and_phase_1_is_kept_and_the_payment_goes_on(
    shop: _Shop,
) -> None:
    intent = await shop.intent()

    async def update() -> None:
        change = UpdatePaymentIntent(metadata={"order": "42"})
        await shop.intents.update(shop.key, intent.id, change)

    shop.vault.between_load_and_phase_1 = update
    paid = await shop.confirm(intent, shop.token())
    assert paid.status is Status.SUCCEEDED
    stored = await shop.stored(intent.id)
    assert (stored.status, stored.metadata) == (Status.SUCCEEDED, {"order": "42"})
    assert await shop.attempts(intent.id) == [AttemptStatus.CAPTURED]


async def test_a_cancel_between_the_load_and_phase_1_wins_and_the_token_stays_unused(
    shop: _Shop,
) -> None:
    intent = await shop.intent()
    token = shop.token()

    async def cancel() -> None:
        await shop.payments.cancel(shop.key, intent.id)

    shop.vault.between_load_and_phase_1 = cancel
    with pytest.raises(FailedPrecondition) as refused:
        await shop.confirm(intent, token)
    assert refused.value.reason == "PAYMENT_INTENT_UNEXPECTED_STATE"
    assert (await shop.stored(intent.id)).status is Status.CANCELED
    assert await shop.attempts(intent.id) == []
    # Never handed to the acquirer: the single-use token can still pay another intent.
    assert (await shop.confirm(await shop.intent(), token)).status is Status.SUCCEEDED


async def test_a_confirm_between_the_load_and_phase_1_wins_and_the_second_is_refused(
    shop: _Shop,
) -> None:
    intent = await shop.intent()
    first: list[PaymentIntent] = []

    async def confirm() -> None:
        first.append(await shop.confirm(intent, shop.token()))

    shop.vault.between_load_and_phase_1 = confirm
    with pytest.raises(FailedPrecondition) as refused:
        await shop.confirm(intent, shop.token())
    assert refused.value.reason == "PAYMENT_INTENT_UNEXPECTED_STATE"
    assert [i.status for i in first] == [Status.SUCCEEDED]
    assert await shop.attempts(intent.id) == [AttemptStatus.CAPTURED]
    assert sum(r.result.outcome.value == "APPROVED" for r in shop.network._records.values()) == 1


async def test_an_attempt_moved_during_the_call_is_settled_once_on_the_rows_read_again(
    shop: _Shop,
) -> None:
    intent = await shop.intent()

    async def lease() -> None:
        # What recovery's claim does to an attempt in flight: a new version, nothing else.
        attempt_id = (await shop.stored(intent.id)).latest_attempt
        async with shop.uow() as uow:
            pair = await uow.payment_attempts.locked_with_intent(shop.merchant_id, attempt_id)
            assert pair is not None
            await uow.payment_attempts.update(pair[1])
            await uow.commit()

    shop.network.during_the_call = lease
    paid = await shop.confirm(intent, shop.token())
    assert paid.status is Status.SUCCEEDED and paid.amount_received == 1_200
    assert await shop.attempts(intent.id) == [AttemptStatus.CAPTURED]
    assert (await shop.history(intent.id)).count(Status.SUCCEEDED) == 1


async def test_an_intent_moved_during_the_call_is_settled_once_on_the_rows_read_again(
    shop: _Shop,
) -> None:
    intent = await shop.intent()

    async def update() -> None:
        change = UpdatePaymentIntent(description="moved")
        await shop.intents.update(shop.key, intent.id, change)

    shop.network.during_the_call = update
    paid = await shop.confirm(intent, shop.token())
    assert (paid.status, paid.description) == (Status.SUCCEEDED, "moved")
    stored = await shop.stored(intent.id)
    assert (stored.status, stored.description, stored.version) == (
        Status.SUCCEEDED,
        "moved",
        paid.version,
    )
    assert (await shop.history(intent.id)).count(Status.SUCCEEDED) == 1


async def test_confirms_racing_cancels_never_do_both(shop: _Shop) -> None:
    intents = [await shop.intent() for _ in range(8)]
    tokens = {i.id: shop.token() for i in intents}
    confirms = [shop.confirm(i, tokens[i.id]) for i in intents]
    cancels = [shop.payments.cancel(shop.key, i.id) for i in intents]
    results = await asyncio.gather(*confirms, *cancels, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, FailedPrecondition), repr(result)
            assert result.reason == "PAYMENT_INTENT_UNEXPECTED_STATE", result.reason
    approved = {
        reference
        for reference, record in shop.network._records.items()
        if record.result.outcome.value == "APPROVED"
    }
    for intent in intents:
        stored = await shop.stored(intent.id)
        if stored.status is Status.CANCELED:
            assert stored.attempts == 0 and stored.amount_received == 0
            assert await shop.attempts(intent.id) == []
        else:
            assert stored.status is Status.SUCCEEDED and stored.amount_received == 1_200
            assert stored.latest_attempt in approved


# --- PostgreSQL alone: the statements of one confirm ------------------------------------


async def test_one_card_confirm_costs_three_statements_alone(
    database_url: str, span_exporter: InMemorySpanExporter
) -> None:
    """The use case's own SQL (the Idempotency-Key's and the vault's are counted by the
    bench's capture, tests/bench/payment.sql): the load, phase 1 (the attempt with its
    intent and the event, one statement alone) and phase 3 (the answer with the intent,
    one statement alone), with no transaction and no locking read in either phase."""
    engine = create_engine(database_url, pool_size=2)  # traced: the exporter is on
    try:
        uow = SqlUnitOfWorkFactory(engine)
        shop = _shop(uow, await add_merchant(uow, RandomIds()))
        intent = await shop.intent()
        token = shop.token()
        span_exporter.clear()
        assert (await shop.confirm(intent, token)).status is Status.SUCCEEDED
    finally:
        await engine.dispose()
    sql = [
        str(s.attributes["db.statement"])
        for s in span_exporter.get_finished_spans()
        if s.attributes and "db.statement" in s.attributes
    ]
    kinds = [statement.split(None, 1)[0].upper() for statement in sql]
    assert kinds.count("BEGIN") == 0 and kinds.count("COMMIT") == 0, kinds
    assert not any("FOR UPDATE" in statement for statement in sql), sql
    assert len(sql) == 3, kinds
