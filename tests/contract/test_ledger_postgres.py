"""What only PostgreSQL can show about the ledger: immutability, the balance trigger,
captures that never wait for each other, debits that do, checkpoints, shared batches.

No test asserts on wall time: concurrency is shown by transactions being open together
(and by pg_locks / pg_blocking_pids), never by how long something took.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.ledger.journal import take_checkpoints
from adapters.sql.tables import APPEND_ONLY_TABLES
from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.ledger.accounts import Account, AccountKind
from core.ledger.hooks import FixedClock, LedgerHooks
from core.ledger.model import Posting
from core.ledger.payouts import CreatePayout, Payouts
from core.ledger.records import Settlement, midnight
from core.ledger.settlement import SettlementBatch
from core.ledger.use_cases import Bookkeeper, get_balance
from core.shared.errors import AlreadyExists, FailedPrecondition
from core.shared.money import Money
from tests.contract.helpers import add_merchant
from tests.contract.ledger_helpers import DAY0, T0, at, capture

CONCURRENT_CAPTURES = 20


@pytest.fixture
async def merchant(uow_factory: SqlUnitOfWorkFactory, ids: RandomIds) -> str:
    return await add_merchant(uow_factory, ids)


@pytest.fixture
async def wide_uow_factory(database_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    """A pool wide enough for every transaction of a test to be open at once."""
    engine = create_engine(database_url, pool_size=CONCURRENT_CAPTURES + 5)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        await engine.dispose()


async def _pid(uow: SqlUnitOfWork) -> int:
    pid: int = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def _wait_until_blocked(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as observer:
        for _ in range(1000):
            blockers = (
                await observer.execute(text("SELECT pg_blocking_pids(:pid)"), {"pid": pid})
            ).scalar_one()
            if blockers:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never blocked")


# --- immutability ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_postings SET amount = amount * 2 WHERE entry_id = :id",
        "DELETE FROM ledger_postings WHERE entry_id = :id",
        "TRUNCATE ledger_postings",
        "UPDATE ledger_entries SET description = 'edited' WHERE id = :id",
        "DELETE FROM ledger_entries WHERE id = :id",
        "TRUNCATE ledger_entries CASCADE",
    ],
    ids=[
        "update-posting",
        "delete-posting",
        "truncate-postings",
        "update-entry",
        "delete-entry",
        "truncate-entries",
    ],
)
async def test_the_database_refuses_to_change_postings_and_entries(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str, statement: str
) -> None:
    entry = await capture(uow_factory, ids, merchant, 1000)
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match=r"ledger_(postings|entries) is append-only"):
            await uow.connection.execute(text(statement), {"id": entry.id})
    async with uow_factory() as uow:
        assert await uow.ledger.get(merchant, entry.id) == entry


async def test_every_ledger_history_table_refuses_changes(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    for table in APPEND_ONLY_TABLES:
        async with uow_factory() as uow:
            # CASCADE reaches the tables that refer to it: one of them may refuse first.
            with pytest.raises(DBAPIError, match=r"\w+ is append-only: TRUNCATE"):
                await uow.connection.execute(text(f"TRUNCATE {table} CASCADE"))
    async with uow_factory() as uow:
        triggers = set(
            (
                await uow.connection.execute(
                    text(
                        "SELECT tgrelid::regclass::text FROM pg_trigger"
                        " WHERE tgname LIKE '%_append_only' AND tgtype & 24 = 24"  # UPDATE, DELETE
                    )
                )
            ).scalars()
        )
    assert set(APPEND_ONLY_TABLES) <= triggers
    async with uow_factory() as uow:
        await uow.connection.execute(
            text("INSERT INTO ledger_checkpoints VALUES ('platform:fx:CHF', 1, 0, now())")
        )
        for statement in (
            "UPDATE ledger_checkpoints SET balance = 1 WHERE account = 'platform:fx:CHF'",
            "DELETE FROM ledger_checkpoints WHERE account = 'platform:fx:CHF'",
        ):
            with pytest.raises(DBAPIError, match="ledger_checkpoints is append-only"):
                async with uow.connection.begin_nested():
                    await uow.connection.execute(text(statement))


async def test_postings_that_do_not_balance_are_refused(
    uow_factory: SqlUnitOfWorkFactory, merchant: str, ids: RandomIds
) -> None:
    entry_id = ids.new("txn")
    async with uow_factory() as uow:
        await uow.connection.execute(
            text(
                "INSERT INTO ledger_entries (id, merchant_id, kind, source, created)"
                " VALUES (:id, :m, 'ADJUSTMENT', 'forged', now())"
            ),
            {"id": entry_id, "m": merchant},
        )
        with pytest.raises(DBAPIError, match="does not balance in USD: 1"):
            await uow.connection.execute(
                text(
                    "INSERT INTO ledger_postings"
                    " (entry_id, position, account, merchant_id, currency, amount, created)"
                    " VALUES (:id, 0, :a, :m, 'USD', 101, now()),"
                    " (:id, 1, 'platform:adjustments:USD', :m, 'USD', -100, now())"
                ),
                {"id": entry_id, "m": merchant, "a": f"merchant:{merchant}:available:USD"},
            )


async def test_an_entry_in_one_statement_is_checked_as_in_three(
    uow_factory: SqlUnitOfWorkFactory, merchant: str, ids: RandomIds
) -> None:
    """SqlLedger.append writes the entry, its postings and its unsettled row in one
    statement: the postings' trigger and keys still refuse what they refused apart."""
    entry = await capture(uow_factory, ids, merchant, 1000)
    count = text(
        "SELECT (SELECT count(*) FROM ledger_postings WHERE entry_id = :id),"
        " (SELECT count(*) FROM ledger_unsettled WHERE transaction_id = :id)"
    )
    async with uow_factory() as uow:
        written = (await uow.connection.execute(count, {"id": entry.id})).one()
    assert tuple(written) == (len(entry.postings), 1)

    first, *rest = entry.postings
    unbalanced = replace(entry, id=ids.new("txn"))
    # Past the domain's own check, as only a bug could: the database refuses it.
    object.__setattr__(unbalanced, "postings", (Posting(first.account, first.amount + 1), *rest))
    twice = replace(entry, id=ids.new("txn"))
    object.__setattr__(twice, "postings", (first, first, *rest))
    async with uow_factory() as uow:
        with pytest.raises(DBAPIError, match="does not balance in USD: 1"):
            await uow.ledger.append(unbalanced)
    async with uow_factory() as uow:
        # A posting's duplicate key is an integrity error, not an existing entry.
        with pytest.raises(IntegrityError, match="pk_ledger_postings"):
            await uow.ledger.append(twice)
    async with uow_factory() as uow:
        with pytest.raises(AlreadyExists):
            await uow.ledger.append(entry)
    async with uow_factory() as uow:
        for forged in (unbalanced, twice):
            assert await uow.ledger.get(merchant, forged.id) is None
            written = (await uow.connection.execute(count, {"id": forged.id})).one()
            assert tuple(written) == (0, 0)


@pytest.mark.parametrize(
    ("account", "currency", "constraint"),
    [
        ("merchant:acct_someone_else:available:USD", "USD", "account_owner"),
        ("platform:fx:EUR", "USD", "account_currency"),
    ],
)
async def test_a_posting_names_an_account_of_its_merchant_and_currency(
    uow_factory: SqlUnitOfWorkFactory,
    merchant: str,
    ids: RandomIds,
    account: str,
    currency: str,
    constraint: str,
) -> None:
    entry_id = ids.new("txn")
    async with uow_factory() as uow:
        await uow.connection.execute(
            text(
                "INSERT INTO ledger_entries (id, merchant_id, kind, source, created)"
                " VALUES (:id, :m, 'ADJUSTMENT', 'forged', now())"
            ),
            {"id": entry_id, "m": merchant},
        )
        with pytest.raises(DBAPIError, match=constraint):
            await uow.connection.execute(
                text(
                    "INSERT INTO ledger_postings"
                    " (entry_id, position, account, merchant_id, currency, amount, created)"
                    " VALUES (:id, 0, :a, :m, :c, 1, now())"
                ),
                {"id": entry_id, "m": merchant, "a": account, "c": currency},
            )


# --- concurrency -------------------------------------------------------------------------


async def test_concurrent_captures_of_one_merchant_do_not_wait_for_each_other(
    wide_uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    """Twenty transactions each post a capture for the same merchant and stay open: if
    any capture took a lock another one holds, it could not finish before the others
    commit, and none commits before all have posted."""
    hooks = LedgerHooks(ids)
    async with contextlib.AsyncExitStack() as stack:
        units = [
            await stack.enter_async_context(wide_uow_factory()) for _ in range(CONCURRENT_CAPTURES)
        ]
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    hooks.on_capture(
                        uow,
                        merchant,
                        ids.new("pi"),
                        1000,
                        "USD",
                        "card",
                        T0,
                        capture_reference=f"cap_{i}",
                    )
                    for i, uow in enumerate(units)
                )
            ),
            timeout=120,  # a guard against hanging, not a measurement
        )
        pids = [await _pid(uow) for uow in units]
        async with wide_uow_factory.engine.connect() as observer:
            locks = (
                await observer.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE NOT granted),"
                        " count(*) FILTER (WHERE locktype = 'advisory'),"
                        " count(DISTINCT pid) FILTER (WHERE locktype = 'transactionid')"
                        " FROM pg_locks WHERE pid = ANY(:pids)"
                    ),
                    {"pids": pids},
                )
            ).one()
            open_transactions = (
                await observer.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE pid = ANY(:pids) AND state = 'idle in transaction'"
                    ),
                    {"pids": pids},
                )
            ).scalar_one()
        # Nobody waits, nobody holds the debit lock, and all twenty have written
        # (each holds its own transaction id) and are open at the same time.
        assert tuple(locks) == (0, 0, CONCURRENT_CAPTURES)
        assert open_transactions == CONCURRENT_CAPTURES
        for uow in units:
            await uow.commit()
    async with wide_uow_factory() as uow:
        balance = await get_balance(uow.ledger, merchant)
    assert balance.pending == [Money(CONCURRENT_CAPTURES * 941, "USD")]


async def test_debits_of_one_merchant_wait_for_each_other_and_never_overdraw(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    hooks = LedgerHooks(ids)
    big, small = ids.new("pi"), ids.new("pi")
    await capture(uow_factory, ids, merchant, 2000, payment_intent_id=big)  # net 1912
    await capture(uow_factory, ids, merchant, 1000, payment_intent_id=small)  # net 941
    async with uow_factory() as first, uow_factory() as second:
        await hooks.on_refund(first, merchant, big, ids.new("re"), 2000, "USD", at(1))
        second_pid = await _pid(second)
        racing = asyncio.create_task(
            hooks.on_refund(second, merchant, small, ids.new("re"), 1000, "USD", at(1))
        )
        await _wait_until_blocked(engine, second_pid)  # on the advisory lock
        # A capture is not held up by the lock the refund holds.
        await capture(uow_factory, ids, merchant, 100)  # net 67
        await first.commit()
        # Once it has the lock it reads the committed refund: 920 left in pending, so
        # the other 80 become the merchant's debt instead of a second spend of the 920.
        await racing
        await second.commit()
    async with uow_factory() as uow:
        balance = await get_balance(uow.ledger, merchant)
    assert balance.pending == [Money(0, "USD")]
    assert balance.available == [Money(1912 + 941 + 67 - 2000 - 1000, "USD")]


async def test_racing_payouts_pay_out_at_most_what_is_available(
    wide_uow_factory: SqlUnitOfWorkFactory, ids: RandomIds, merchant: str
) -> None:
    async with wide_uow_factory() as uow:
        keeper = Bookkeeper(uow.fx_rates, ids, FixedClock(T0))
        await keeper.adjustment(
            uow.ledger,
            merchant_id=merchant,
            source="goodwill",
            amount=Money(1000, "USD"),
            description="seed",
        )
        await uow.commit()
    payouts = Payouts(wide_uow_factory, ids, FixedClock(at(1)))
    caller = Principal(merchant, livemode=False, actor="key_race", role=Role.OWNER)
    results = await asyncio.gather(
        *(payouts.create(caller, CreatePayout(400, "USD")) for _ in range(6)),
        return_exceptions=True,
    )
    paid = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert (len(paid), len(refused)) == (2, 4)
    assert {r.reason for r in refused} == {"BALANCE_INSUFFICIENT"}
    async with wide_uow_factory() as uow:
        assert (await get_balance(uow.ledger, merchant)).available == [Money(200, "USD")]


async def test_workers_share_a_settlement_day_without_settling_anything_twice(
    wide_uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    merchants = [await add_merchant(wide_uow_factory, ids) for _ in range(6)]
    when = DAY0 + timedelta(days=40, hours=9)  # a day no other test settles
    for merchant in merchants:
        for amount in (1000, 2000):
            await capture(wide_uow_factory, ids, merchant, amount, when=when)
    day = (when + timedelta(days=2)).date()
    now = when + timedelta(days=2)
    batch = SettlementBatch(wide_uow_factory, ids)
    runs = await asyncio.gather(*(batch.run_settlement(day, now) for _ in range(4)))
    completed = [s for run in runs for s in run if s.merchant_id in merchants]
    assert sorted(s.merchant_id for s in completed) == sorted(merchants)  # each once
    assert {(s.totals.count, s.totals.net) for s in completed} == {(2, 941 + 1912)}
    async with wide_uow_factory() as uow:
        lines = (
            await uow.connection.execute(
                text(
                    "SELECT count(*), count(DISTINCT transaction_id) FROM settlement_lines"
                    " WHERE merchant_id = ANY(:m)"
                ),
                {"m": merchants},
            )
        ).one()
    assert tuple(lines) == (12, 12)


async def test_a_claimed_settlement_is_skipped_not_waited_for(
    uow_factory: SqlUnitOfWorkFactory, ids: RandomIds
) -> None:
    when = DAY0 + timedelta(days=50, hours=9)
    merchants = [await add_merchant(uow_factory, ids) for _ in range(2)]
    for merchant in merchants:
        await capture(uow_factory, ids, merchant, 1000, when=when)
    day = (when + timedelta(days=2)).date()
    async with uow_factory() as uow:
        for merchant_id, currency, _ in await uow.settlements.due_accounts(
            when + timedelta(days=2)
        ):
            if merchant_id in merchants:
                await uow.settlements.add(
                    Settlement(
                        id=ids.new("st"),
                        merchant_id=merchant_id,
                        currency=currency,
                        day=day,
                        cutoff=midnight(day),
                        created=when,
                    )
                )
        await uow.commit()
    async with uow_factory() as first, uow_factory() as second:
        one = await first.settlements.claim(day)
        two = await second.settlements.claim(day)
        assert one is not None and two is not None and one.id != two.id


# --- checkpoints ----------------------------------------------------------------------


async def test_checkpoints_cover_only_postings_that_can_no_longer_change(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    pending = Account.merchant(merchant, AccountKind.PENDING, "USD")
    await capture(uow_factory, ids, merchant, 1000)
    await capture(uow_factory, ids, merchant, 2000)
    async with uow_factory() as late:
        # A transaction that posted before the checkpoint but commits after it.
        late_entry = await LedgerHooks(ids).on_capture(
            late, merchant, ids.new("pi"), 3000, "USD", "card", T0, capture_reference="late"
        )
        async with engine.connect() as checkpointer:
            assert await take_checkpoints(checkpointer) > 0
            await checkpointer.commit()
        await late.commit()
    async with uow_factory() as uow:
        balance = await uow.ledger.balances([pending])
        checkpoint = (
            await uow.connection.execute(
                text(
                    "SELECT balance, below_xid FROM ledger_checkpoints WHERE account = :a"
                    " ORDER BY below_xid DESC LIMIT 1"
                ),
                {"a": pending.code},
            )
        ).one()
        tail = (
            await uow.connection.execute(
                text(
                    "SELECT sum(amount) FILTER (WHERE xid >= :w),"
                    " bool_or(xid >= :w AND entry_id = :late)"
                    " FROM ledger_postings WHERE account = :a"
                ),
                {"a": pending.code, "w": checkpoint.below_xid, "late": late_entry.id},
            )
        ).one()
    # The late capture is never inside the checkpoint (its transaction was open when the
    # watermark was taken): it is in the tail the balance adds. (How much else the
    # checkpoint covers depends on what else ran then, e.g. an autovacuum ANALYZE.)
    assert tail[1] is True
    assert checkpoint.balance + tail[0] == balance[pending] == -(941 + 1912 + 2883)

    async with engine.connect() as checkpointer:
        await take_checkpoints(checkpointer)
        await checkpointer.commit()
    async with uow_factory() as uow:
        assert await uow.ledger.balances([pending]) == balance
        everything = (
            await uow.connection.execute(
                text("SELECT sum(amount) FROM ledger_postings WHERE account = :a"),
                {"a": pending.code},
            )
        ).scalar_one()
    assert everything == balance[pending]


async def test_the_worker_takes_checkpoints_on_its_schedule(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds, merchant: str
) -> None:
    from types import SimpleNamespace

    from servers.roles.worker.jobs import ledger_jobs

    pending = Account.merchant(merchant, AccountKind.PENDING, "USD")
    await capture(uow_factory, ids, merchant, 1000)
    async with uow_factory() as uow:
        before = await uow.ledger.balances([pending])
    jobs = {job.name: job for job in ledger_jobs(SimpleNamespace(engine=engine))}  # type: ignore[arg-type]
    job = jobs["ledger.checkpoint"]
    assert job.every <= 60
    count = text("SELECT count(*) FROM ledger_checkpoints WHERE account = :a")
    taken = 0
    # The watermark is the server's oldest open transaction: a test database on a shared
    # server may have to wait for another database's transaction to end.
    for _ in range(50):
        await job.run(T0, job.batch)
        async with uow_factory() as uow:
            taken = (await uow.connection.execute(count, {"a": pending.code})).scalar_one()
        if taken:
            break
        await asyncio.sleep(0.2)
    assert taken == 1
    async with uow_factory() as uow:
        assert await uow.ledger.balances([pending]) == before  # same balance, shorter tail
