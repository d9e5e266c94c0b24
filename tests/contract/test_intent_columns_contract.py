"""An intent's versioned update sends only the columns its change touched (PostgreSQL;
the fakes keep whole objects): what was not touched is left as the row holds it, two
writers at the same version still conflict whatever columns each touches, alone or with
an attempt or a refund, and a row read back equals the intent written, field by field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from adapters.sql.payments import intents as sql_intents
from adapters.sql.payments.intents import written_columns
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.payments.model import (
    NextAction,
    PaymentError,
    PaymentIntent,
    PaymentMethodDetails,
    Status,
)
from core.risk.model import Decision, Reason, RiskAssessment
from core.shared.errors import Conflict
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.contract.helpers import T0, add_intent, add_merchant, new_attempt

# One change per mutable field the domain sets after the create: name, new value.
CHANGES: dict[str, Callable[[PaymentIntent], Any]] = {
    "amount": lambda i: i.amount + 1,
    "status": lambda i: Status.REQUIRES_CONFIRMATION,
    "description": lambda i: i.description + " changed",
    "metadata": lambda i: {**i.metadata, "order": "43"},
    "receipt_email": lambda i: "payer@example.test",
    "return_url": lambda i: "https://shop.test/back",
    "amount_capturable": lambda i: i.amount,
    "payment_method": lambda i: "pm_changed",
    "last_payment_error": lambda i: PaymentError("card_declined", "insufficient_funds", "Nope"),
    "next_action": lambda i: NextAction("REDIRECT_TO_URL", "https://acs.test/3ds"),
    "attempts": lambda i: i.attempts + 1,
    "canceled_at": lambda i: T0 + timedelta(minutes=5),
    "latest_attempt": lambda i: "pa_changed",
    "failed_attempts": lambda i: i.failed_attempts + 1,
    "capture_before": lambda i: T0 + timedelta(days=7),
    "risk": lambda i: RiskAssessment(12, Decision.ALLOW, (Reason("velocity", "score", 12),), 3),
    "payment_method_details": lambda i: PaymentMethodDetails("card", "visa", "4242"),
}


def _change(intent: PaymentIntent, name: str) -> None:
    setattr(intent, name, CHANGES[name](intent))


async def _locked(uow: UnitOfWork, intent: PaymentIntent) -> PaymentIntent:
    loaded = await uow.payment_intents.get(intent.merchant_id, intent.id, for_update=True)
    assert loaded is not None
    return loaded


@pytest.fixture
async def merchant(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(uow_factory, ids)


# --- what a change sends ----------------------------------------------------------------


async def test_a_read_intent_sends_only_what_changed_and_nothing_when_nothing_did(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant, metadata={"order": "42"})
    async with uow_factory() as uow:
        loaded = await _locked(uow, intent)
        assert written_columns(loaded) == ()
        loaded.metadata["order"] = "43"  # in place: still seen
        loaded.amount += 1
        assert written_columns(loaded) == ("amount", "metadata")
        await uow.payment_intents.update(loaded)
        # After the write, what it wrote is the new reference.
        assert written_columns(loaded) == ()
        loaded.amount_capturable = 1
        assert written_columns(loaded) == ("amount_capturable",)


async def test_an_intent_not_read_here_or_at_another_version_sends_every_column(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant)
    async with uow_factory() as uow:
        loaded = await _locked(uow, intent)
    everything = sql_intents._MUTABLE_INTENT_COLUMNS
    assert written_columns(dataclasses.replace(loaded)) == everything
    loaded.version += 1
    assert written_columns(loaded) == everything


async def test_the_untouched_columns_keep_what_the_row_holds(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    intent = await add_intent(uow_factory, ids, merchant, description="before")
    async with uow_factory() as uow:
        loaded = await _locked(uow, intent)
        # A write that keeps the version (no domain path does): the narrowed update
        # does not send the description, so it stays as the row has it.
        await uow.connection.execute(
            text("UPDATE payment_intents SET description = 'beside' WHERE id = :id"),
            {"id": intent.id},
        )
        loaded.amount_capturable = loaded.amount
        await uow.payment_intents.update(loaded)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.payment_intents.get(merchant, intent.id)
    assert stored is not None
    assert (stored.description, stored.amount_capturable) == ("beside", loaded.amount)


def test_the_column_sets_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MOST_COLUMN_SETS sets, a new set sends every column: the statements built
    stay as few as the sets admitted, plus the full one."""
    everything = sql_intents._MUTABLE_INTENT_COLUMNS
    monkeypatch.setattr(sql_intents, "_ADMITTED", {everything})
    monkeypatch.setattr(sql_intents, "MOST_COLUMN_SETS", 3)
    intent = PaymentIntent(
        id="pi_x", merchant_id="acct_x", amount=100, currency="EUR", status=Status.PROCESSING,
        capture_method=sql_intents.CaptureMethod.AUTOMATIC, client_secret="s", livemode=False,
        created=T0,
    )  # fmt: skip
    sent = []
    for name in ("amount", "description", "attempts", "amount_capturable"):
        sql_intents.remember(intent)
        _change(intent, name)
        sent.append(written_columns(intent))
    assert sent == [("amount",), ("description",), everything, everything]
    sql_intents.remember(intent)
    _change(intent, "amount")
    assert written_columns(intent) == ("amount",)  # admitted before: still narrow


# --- concurrent writers -----------------------------------------------------------------


async def _one_written_other_stale(
    uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str, changed: str
) -> tuple[PaymentIntent, PaymentIntent, PaymentIntent]:
    """A stored intent read twice at one version, the first copy then written with its
    `changed` field: the second is a concurrent writer's, now stale."""
    intent = await add_intent(uow_factory, ids, merchant_id)
    async with uow_factory() as uow:
        one = await uow.payment_intents.get(merchant_id, intent.id)
        other = await uow.payment_intents.get(merchant_id, intent.id)
    assert one is not None and other is not None
    async with uow_factory() as uow:
        _change(one, changed)
        await uow.payment_intents.update(one)
        await uow.commit()
    return intent, one, other


PAIRS = [("amount", "amount"), ("description", "metadata"), ("risk", "attempts")]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=["-".join(p) for p in PAIRS])
async def test_two_writers_at_one_version_conflict_whatever_they_touch(
    any_uow_factory: UnitOfWorkFactory,
    ids: RandomIds,
    merchant_id: str,
    first: str,
    second: str,
) -> None:
    intent, one, other = await _one_written_other_stale(any_uow_factory, ids, merchant_id, first)
    async with any_uow_factory() as uow:
        _change(other, second)
        with pytest.raises(Conflict) as raised:
            await uow.payment_intents.update(other)
        assert raised.value.reason == "CONCURRENT_UPDATE"
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == one


async def test_a_stale_intent_writes_no_attempt_whatever_it_touches(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent, one, other = await _one_written_other_stale(
        any_uow_factory, ids, merchant_id, "description"
    )
    async with any_uow_factory() as uow:
        attempt = new_attempt(ids, other)
        other.latest_attempt, other.attempts = attempt.id, 1
        with pytest.raises(Conflict) as raised:
            await uow.payment_attempts.add_with_intent(attempt, other)
        assert raised.value.reason == "CONCURRENT_UPDATE"
        assert await uow.payment_attempts.get(attempt.id) is None
    async with any_uow_factory() as uow:
        assert await uow.payment_intents.get(merchant_id, intent.id) == one


# --- the round trip ----------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
_when = st.none() | st.datetimes(
    min_value=T0.replace(tzinfo=None), max_value=(T0 + timedelta(days=400)).replace(tzinfo=None)
).map(lambda d: d.replace(tzinfo=T0.tzinfo))
_fields: dict[str, st.SearchStrategy[Any]] = {
    # Within the table's checks: received + capturable <= amount, failed <= attempts.
    "amount": st.integers(10**4, 10**9),
    "status": st.sampled_from(list(Status)),
    "payment_method_types": st.sampled_from([("card",), ("card", "upi"), ("wallet",)]),
    "description": _text,
    "metadata": st.dictionaries(_text.filter(bool), _text, max_size=3),
    "receipt_email": _text,
    "amount_received": st.integers(0, 1000),
    "payment_method": _text,
    "last_payment_error": st.none() | st.builds(PaymentError, _text, _text, _text),
    "next_action": st.none() | st.builds(NextAction, _text, _text, _text),
    "attempts": st.integers(0, 9),
    "canceled_at": _when,
    "cancellation_reason": _text,
    "failed_attempts": st.integers(0, 5),
    "capture_before": _when,
    "risk": st.none()
    | st.builds(
        RiskAssessment,
        st.integers(0, 100),
        st.sampled_from(list(Decision)),
        st.lists(st.builds(Reason, _text, _text, st.integers(0, 100), _text), max_size=2).map(
            tuple
        ),
        st.integers(0, 9),
    ),
    "payment_method_details": st.none()
    | st.builds(PaymentMethodDetails, _text, _text, _text, _text, _text, _text),
}
_changes = st.lists(st.fixed_dictionaries({}, optional=_fields), min_size=1, max_size=3)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(changes=_changes)
async def test_a_row_read_back_equals_the_intent_written(
    any_uow_factory: UnitOfWorkFactory,
    ids: RandomIds,
    merchant_id: str,
    changes: list[dict[str, Any]],
) -> None:
    """Changes of any fields, one or several writes in one unit of work, then in the
    next: each write sends what differs, and the row read back is the intent."""
    intent = await add_intent(any_uow_factory, ids, merchant_id)
    for change in changes:
        async with any_uow_factory() as uow:
            loaded = await _locked(uow, intent)
            for name, value in change.items():
                setattr(loaded, name, value)
            loaded.failed_attempts = min(loaded.failed_attempts, loaded.attempts)
            await uow.payment_intents.update(loaded)
            loaded.amount_refunded = min(loaded.amount_received, 1)
            await uow.payment_intents.update(loaded)
            await uow.commit()
        async with any_uow_factory() as uow:
            assert await uow.payment_intents.get(merchant_id, intent.id) == loaded
