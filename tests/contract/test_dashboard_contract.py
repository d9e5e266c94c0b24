"""The dashboard's reads on every unit of work (PostgreSQL and the fake): the business
profile, the onboarding facts, the audit log's search and payment analytics, which must
say what the ledger says for the same range."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.sql.analytics_rollup import build_merchants, roll_up
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from core.access.audit import Action, AuditEvent, AuditQuery, Outcome
from core.account.profile import BusinessProfile
from core.analytics.model import Interval
from core.ledger.model import BalanceTransactionType
from core.payments.model import CaptureMethod
from core.unit_of_work import UnitOfWorkFactory
from servers.bootstrap.app import App
from tests.contract.helpers import T0
from tests.fakes import EPOCH, FixedClock, in_memory_app
from tests.payment_history import make_history

DAY = EPOCH.replace(hour=0)


@pytest.fixture
async def app(any_uow_factory: UnitOfWorkFactory) -> App:
    return in_memory_app(any_uow_factory, clock=FixedClock())


async def test_a_profile_round_trips_and_the_name_is_the_merchants(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str
) -> None:
    async with any_uow_factory() as uow:
        fresh = await uow.business_profiles.get(merchant_id)
        assert fresh == BusinessProfile(merchant_id, business_name="Contract Test Ltd")
        assert await uow.business_profiles.get("acct_unknown") is None
    saved = BusinessProfile(
        merchant_id,
        business_name="Renamed Ltd",
        statement_descriptor="RENAMED",
        support_email="help@renamed.example",
        support_url="https://renamed.example/help",
        country="NL",
        accepted_currencies=("EUR", "USD"),
        default_capture_method=CaptureMethod.MANUAL,
        branding_color="#00aa00",
        logo_url="https://renamed.example/logo.png",
        updated=T0,
    )
    for profile in (saved, replace(saved, country="BE", accepted_currencies=(), updated=T0)):
        async with any_uow_factory() as uow:
            await uow.business_profiles.save(profile)
            await uow.commit()
        async with any_uow_factory() as uow:
            assert await uow.business_profiles.get(merchant_id) == profile
            assert (await uow.merchants.get(merchant_id)).name == "Renamed Ltd"  # type: ignore[union-attr]


async def test_onboarding_facts_of_an_account_with_nothing_yet(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str
) -> None:
    async with any_uow_factory() as uow:
        facts = await uow.business_profiles.onboarding(merchant_id)
    assert not (facts.api_key_created or facts.webhook_endpoint_set or facts.test_payment_made)


async def test_onboarding_facts_after_keys_and_a_payment(app: App) -> None:
    history = await make_history(app)
    checklist = await app.business_profiles.checklist(history.merchant)
    assert checklist.api_key_created and checklist.test_payment_made
    assert not checklist.webhook_endpoint_set


async def test_audit_search_filters_and_pages_alike(
    any_uow_factory: UnitOfWorkFactory, merchant_id: str
) -> None:
    def at(minutes: int, action: Action, actor: str, merchant: str | None) -> AuditEvent:
        return AuditEvent(
            T0 + timedelta(minutes=minutes), action, Outcome.SUCCESS, actor, "::1", merchant
        )

    async with any_uow_factory() as uow:
        for event in (
            at(1, Action.API_KEY_CREATE, "usr_a", merchant_id),
            at(2, Action.MEMBER_INVITE, "usr_b", merchant_id),
            at(3, Action.API_KEY_CREATE, "usr_b", merchant_id),
            at(4, Action.API_KEY_CREATE, "usr_b", "acct_someone_else"),
        ):
            await uow.audit.append(event)
        await uow.commit()
    async with any_uow_factory() as uow:
        mine = await uow.audit.search(AuditQuery(merchant_id), limit=10)
        assert [r.event.occurred_at.minute for r in mine] == [33, 32, 31]  # T0 is 9:30:15
        assert [r.id for r in mine] == sorted((r.id for r in mine), reverse=True)
        older = await uow.audit.search(
            replace(AuditQuery(merchant_id), before_id=mine[0].id), limit=1
        )
        assert older[0].id == mine[1].id
        keys_by_b = AuditQuery(merchant_id, actor="usr_b", action="api_key.create")
        assert [
            r.event.occurred_at.minute for r in await uow.audit.search(keys_by_b, limit=10)
        ] == [33]
        window = AuditQuery(
            merchant_id,
            occurred_from=T0 + timedelta(minutes=2),
            occurred_to=T0 + timedelta(minutes=2),
        )
        assert [r.event.action for r in await uow.audit.search(window, limit=10)] == [
            Action.MEMBER_INVITE
        ]


async def test_analytics_count_the_history_alike(app: App) -> None:
    history = await make_history(app)
    result = await app.analytics.payments(
        history.merchant, currency="USD", start=DAY, end=DAY + timedelta(days=1), interval=None
    )
    totals = result.totals
    assert (totals.succeeded, totals.failed) == (history.succeeded, history.failed)
    assert (totals.volume, totals.refunds, totals.disputes) == (17_500, 3_000, 5_000)
    assert result.decline_reasons == [("generic_decline", 1), ("insufficient_funds", 1)]


@pytest.mark.parametrize("rolled_up", [False, True], ids=["raw", "rolled-up"])
@pytest.mark.parametrize("livemode", [False, True], ids=["test", "live"])
async def test_analytics_equal_what_the_ledger_and_the_payments_say_for_the_range(
    app: App, any_uow_factory: UnitOfWorkFactory, livemode: bool, rolled_up: bool
) -> None:
    history = await make_history(app, livemode=livemode)
    merchant = history.merchant
    # The same history in the other mode: none of it may show in this mode's figures.
    await make_history(app, livemode=not livemode, merchant_id=merchant.merchant_id)
    if rolled_up:  # PostgreSQL's hourly rollup, every hour of the history summed
        if not isinstance(any_uow_factory, SqlUnitOfWorkFactory):
            pytest.skip("the fake reads the rows themselves: it has no rollup")
        engine = any_uow_factory.engine
        while await build_merchants(engine, limit=50):
            pass
        while await roll_up(engine, now=DAY + timedelta(days=2), limit=500):
            pass
    result = await app.analytics.payments(
        merchant,
        currency="USD",
        start=DAY,
        end=DAY + timedelta(days=1),
        interval=Interval.HOUR,
    )
    # The ledger's own account of the range: its balance transactions, one by one.
    page = await app.balances.transactions(merchant, limit=100)
    assert not page.has_more
    in_range = [t for t in page.data if DAY <= t.created < DAY + timedelta(days=1)]

    def total(kind: BalanceTransactionType, what: str) -> int:
        return sum(getattr(t, what) for t in in_range if t.type is kind)

    T = BalanceTransactionType
    activity = [t for t in in_range if t.type in (T.CHARGE, T.REFUND, T.DISPUTE, T.FEE)]
    totals = result.totals
    assert (totals.volume, totals.refunds) == (history.captured, history.refunded)
    assert totals.volume == total(T.CHARGE, "amount")
    assert totals.refunds == -total(T.REFUND, "amount")
    assert totals.disputes == -total(T.DISPUTE, "amount")
    assert totals.fees == sum(t.fee for t in activity) - total(T.FEE, "amount")
    assert totals.net == sum(t.net for t in activity)
    # ... and the payments' own: what the intents received and gave back.
    intents = await app.payment_intents.list(merchant, limit=100)
    assert totals.volume == sum(i.amount_received for i in intents.data)
    assert totals.refunds == sum(i.amount_refunded for i in intents.data)
    # Hourly buckets add up to the totals.
    assert sum(f.net for _, f in result.buckets) == totals.net
    assert len(result.buckets) == 24
