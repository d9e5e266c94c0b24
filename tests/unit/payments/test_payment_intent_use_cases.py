"""PaymentIntents use-cases against the in-memory unit of work."""

from __future__ import annotations

import pytest

from core.access.model import Principal
from core.access.roles import Role
from core.payments.model import CaptureMethod, EventKind, PaymentEvent, Status
from core.payments.use_cases import (
    MAX_METADATA_KEYS,
    CreatePaymentIntent,
    PaymentIntents,
    UpdatePaymentIntent,
)
from core.shared.errors import InvalidArgument, NotFound
from core.shared.money import MAX_AMOUNT
from tests.fakes import FixedClock, SequentialIds
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

MERCHANT = "acct_01jhf0000000000000000000aa"
OTHER_MERCHANT = "acct_01jhf0000000000000000000bb"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def payments(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> PaymentIntents:
    return PaymentIntents(uow, SequentialIds(clock), clock)


def caller(merchant_id: str = MERCHANT, *, publishable: bool = False) -> Principal:
    return Principal(
        merchant_id=merchant_id,
        livemode=False,
        actor="key_publishable" if publishable else "key_secret",
        role=None if publishable else Role.ADMIN,
        is_publishable=publishable,
    )


def usd(amount: int = 2000, **fields: object) -> CreatePaymentIntent:
    return CreatePaymentIntent(amount=amount, currency="usd", **fields)  # type: ignore[arg-type]


# --- create ----------------------------------------------------------------------------


async def test_create_stores_the_intent_and_its_first_event(
    payments: PaymentIntents, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    intent = await payments.create(caller(), usd(1999, metadata={"order": "42"}))

    assert intent.id.startswith("pi_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert (intent.amount, intent.currency, intent.status) == (
        1999,
        "USD",
        Status.REQUIRES_PAYMENT_METHOD,
    )
    assert intent.capture_method is CaptureMethod.AUTOMATIC
    assert intent.payment_method_types == ("card",)
    assert (intent.merchant_id, intent.livemode, intent.created) == (MERCHANT, False, clock.now())
    assert intent.metadata == {"order": "42"}
    assert intent.version == 1

    tables = uow.store.tables
    assert tables.payment_intents == {intent.id: intent}
    assert tables.payment_events == [
        PaymentEvent(
            intent.id, MERCHANT, None, Status.REQUIRES_PAYMENT_METHOD, "key_secret", clock.now()
        )
    ]


async def test_create_keeps_the_options_it_was_given(payments: PaymentIntents) -> None:
    intent = await payments.create(
        caller(),
        usd(
            capture_method=CaptureMethod.MANUAL,
            payment_method_types=("upi", "card", "upi"),
            description="Two croissants",
            receipt_email="buyer@example.com",
            return_url="https://shop.example/done",
        ),
    )
    assert intent.capture_method is CaptureMethod.MANUAL
    assert intent.payment_method_types == ("upi", "card")
    assert (intent.description, intent.receipt_email, intent.return_url) == (
        "Two croissants",
        "buyer@example.com",
        "https://shop.example/done",
    )


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (CreatePaymentIntent(amount=0, currency="usd"), "amount"),  # absent in proto3
        (CreatePaymentIntent(amount=-1, currency="usd"), "amount"),
        (CreatePaymentIntent(amount=MAX_AMOUNT + 1, currency="usd"), "amount"),
        (CreatePaymentIntent(amount=100, currency=""), "currency"),
        (CreatePaymentIntent(amount=100, currency="xyz"), "currency"),
        (CreatePaymentIntent(amount=100, currency="usd", payment_method_types=("cash",)),
         "payment_method_types[0]"),
        (CreatePaymentIntent(amount=100, currency="usd", receipt_email="nobody"),
         "receipt_email"),
        (CreatePaymentIntent(amount=100, currency="usd", description="x" * 1001), "description"),
        (CreatePaymentIntent(amount=100, currency="usd",
                             metadata={f"k{i}": "v" for i in range(51)}), "metadata"),
        (CreatePaymentIntent(amount=100, currency="usd", metadata={"k": "v" * 501}),
         "metadata[k]"),
    ],
    ids=[
        "amount-missing", "amount-negative", "amount-too-large", "currency-missing",
        "currency-unknown", "payment-method-type", "receipt-email", "description",
        "metadata-keys", "metadata-value",
    ],
)  # fmt: skip
async def test_create_names_the_bad_field_and_writes_nothing(
    payments: PaymentIntents, uow: MemoryUnitOfWorkFactory, command: CreatePaymentIntent, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await payments.create(caller(), command)

    assert raised.value.metadata["param"] == field
    assert [v.field for v in raised.value.violations] == [field]
    assert uow.store.tables.payment_intents == {}
    assert uow.store.tables.payment_events == []


async def test_create_reports_every_bad_field_at_once(payments: PaymentIntents) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await payments.create(caller(), CreatePaymentIntent(amount=-5, currency="zzz"))
    assert [v.field for v in raised.value.violations] == ["amount", "currency"]
    assert "amount" in raised.value.message and "currency" in raised.value.message


# --- get -------------------------------------------------------------------------------


async def test_get_returns_the_callers_own_intent(payments: PaymentIntents) -> None:
    intent = await payments.create(caller(), usd())
    assert await payments.get(caller(), intent.id) == intent


async def test_another_merchants_intent_is_not_found(payments: PaymentIntents) -> None:
    intent = await payments.create(caller(), usd())
    with pytest.raises(NotFound) as raised:
        await payments.get(caller(OTHER_MERCHANT), intent.id)
    assert raised.value.metadata == {"param": "id"}


async def test_a_publishable_key_needs_the_client_secret(payments: PaymentIntents) -> None:
    intent = await payments.create(caller(), usd())
    browser = caller(publishable=True)

    assert await payments.get(browser, intent.id, client_secret=intent.client_secret) == intent
    for wrong in ("", f"{intent.id}_secret_guess", "x"):
        with pytest.raises(NotFound):
            await payments.get(browser, intent.id, client_secret=wrong)
    # A secret key does not need it.
    assert await payments.get(caller(), intent.id) == intent


# --- list ------------------------------------------------------------------------------


async def test_list_pages_newest_first_with_has_more(
    payments: PaymentIntents, clock: FixedClock
) -> None:
    created = []
    for _ in range(5):
        created.append((await payments.create(caller(), usd())).id)
        clock.advance(seconds=1)
    await payments.create(caller(OTHER_MERCHANT), usd())
    newest_first = created[::-1]

    first = await payments.list(caller(), limit=2)
    second = await payments.list(caller(), limit=2, starting_after=first.data[-1].id)
    last = await payments.list(caller(), limit=2, starting_after=second.data[-1].id)
    exact = await payments.list(caller(), limit=5)
    default = await payments.list(caller())

    assert ([i.id for i in first.data], first.has_more) == (newest_first[:2], True)
    assert ([i.id for i in second.data], second.has_more) == (newest_first[2:4], True)
    assert ([i.id for i in last.data], last.has_more) == (newest_first[4:], False)
    assert ([i.id for i in exact.data], exact.has_more) == (newest_first, False)
    assert ([i.id for i in default.data], default.has_more) == (newest_first, False)


async def test_list_filters_by_status(payments: PaymentIntents) -> None:
    await payments.create(caller(), usd())
    page = await payments.list(caller(), status=Status.SUCCEEDED)
    assert (page.data, page.has_more) == ([], False)
    page = await payments.list(caller(), status=Status.REQUIRES_PAYMENT_METHOD)
    assert len(page.data) == 1


@pytest.mark.parametrize("limit", [-1, 101])
async def test_list_rejects_a_limit_out_of_range(payments: PaymentIntents, limit: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await payments.list(caller(), limit=limit)
    assert raised.value.metadata["param"] == "limit"


# --- update ----------------------------------------------------------------------------


async def test_update_changes_the_merchants_fields_and_records_a_line_of_history(
    payments: PaymentIntents, uow: MemoryUnitOfWorkFactory, clock: FixedClock
) -> None:
    intent = await payments.create(caller(), usd(metadata={"order": "42", "note": "x"}))
    updated = await payments.update(
        caller(),
        intent.id,
        UpdatePaymentIntent(description="Tea", metadata={"order": "43", "note": "", "gift": "yes"}),
    )
    assert updated.description == "Tea"
    assert updated.metadata == {"order": "43", "gift": "yes"}  # merged; "" removes
    assert updated.receipt_email == ""  # absent: unchanged
    assert (updated.amount, updated.status) == (2000, Status.REQUIRES_PAYMENT_METHOD)
    assert uow.store.tables.payment_intents[intent.id].metadata == updated.metadata
    last = uow.store.tables.payment_events[-1]
    assert (last.kind, last.from_status, last.to_status) == (
        EventKind.DETAILS_UPDATED,
        Status.REQUIRES_PAYMENT_METHOD,
        Status.REQUIRES_PAYMENT_METHOD,
    )


async def test_update_refuses_bad_fields_and_other_merchants_intents(
    payments: PaymentIntents, uow: MemoryUnitOfWorkFactory
) -> None:
    intent = await payments.create(caller(), usd())
    with pytest.raises(InvalidArgument) as bad:
        await payments.update(
            caller(),
            intent.id,
            UpdatePaymentIntent(receipt_email="nope", description="4242424242424242"),
        )
    assert [v.field for v in bad.value.violations] == ["receipt_email", "description"]
    with pytest.raises(InvalidArgument):
        many = {f"k{i}": "v" for i in range(MAX_METADATA_KEYS)}
        await payments.update(caller(), intent.id, UpdatePaymentIntent(metadata=many))
        await payments.update(caller(), intent.id, UpdatePaymentIntent(metadata={"one": "more"}))
    with pytest.raises(NotFound):
        await payments.update(caller(OTHER_MERCHANT), intent.id, UpdatePaymentIntent("x"))
    assert uow.store.tables.payment_intents[intent.id].metadata.get("one") is None
