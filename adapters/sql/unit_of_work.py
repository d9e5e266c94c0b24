"""The unit of work over PostgreSQL: one pooled connection, one transaction."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.crypto.secret_box import SecretBox
from adapters.failpoints import ARMED, fail_point
from adapters.observability import tracing
from adapters.sql.access import (
    SqlApiKeys,
    SqlAuditLog,
    SqlInvitations,
    SqlMemberships,
    SqlMerchants,
    SqlRateLimitOverrides,
    SqlSessions,
    SqlUsers,
)
from adapters.sql.account import SqlBusinessProfiles
from adapters.sql.analytics import SqlPaymentAnalytics
from adapters.sql.checkout import check_in, check_out
from adapters.sql.driver_read import DriverRead, failed, plain_read
from adapters.sql.errors import is_outage, unavailable
from adapters.sql.events import SqlDeliveries, SqlEvents, SqlWebhookEndpoints
from adapters.sql.greenlets import run_sync
from adapters.sql.held import Chain, Gate, HeldWrite
from adapters.sql.idempotency import KeyInTransaction
from adapters.sql.ledger.disputes import SqlDisputes
from adapters.sql.ledger.journal import SqlLedger
from adapters.sql.ledger.payouts import SqlPayouts
from adapters.sql.ledger.settlements import SqlSettlements
from adapters.sql.ledger.terms import SqlFxRates, SqlMerchantTerms
from adapters.sql.notifications import SqlEmails, SqlMailDirectory
from adapters.sql.payments.attempts import SqlPaymentAttempts
from adapters.sql.payments.intents import SqlPaymentEvents, SqlPaymentIntents
from adapters.sql.payments.refunds import SqlRefunds
from adapters.sql.prebuilt import DriverResult, Prebuilt, prebuilt, send
from adapters.sql.risk import SqlRiskOverrides
from adapters.sql.written import tables_written
from core.idempotency.call import deferred
from core.shared.errors import Conflict, PaygateError
from core.unit_of_work import UnitOfWork

T = TypeVar("T")

# SQLSTATEs of a transaction that lost a race and may be retried from the start.
_RETRYABLE = {"40001": "SERIALIZATION_FAILURE", "40P01": "DEADLOCK_DETECTED"}


class LazyTransaction:
    """The connection as the repositories see it: the transaction begins at the first
    statement that needs one (a write, a locking read, raw SQL), not at the first read.

    Plain reads before it run on their own (autocommit), which under READ COMMITTED sees
    exactly what they would see inside the transaction, and costs no BEGIN and no
    ROLLBACK round trip: a unit of work that only reads (GET /v1/payment_intents/{id})
    is one statement, one transaction.

    The transaction is this object's, on asyncpg: SQLAlchemy's adapter stays in
    autocommit for the whole checkout and never sends BEGIN, COMMIT or ROLLBACK; this
    sends `BEGIN ISOLATION LEVEL READ COMMITTED`, `COMMIT` and `ROLLBACK` (and the
    savepoints of `begin_nested`) itself, on the same asyncpg connection under the
    adapter's mutex. So every statement after BEGIN, whether SQLAlchemy or asyncpg runs
    it, is inside the one transaction by construction, and the statements built once
    run on asyncpg (adapters/sql/prebuilt.py). asyncpg's own record of the connection
    (`is_in_transaction()`, from the server's every answer) is the one that decides
    whether a transaction is open when the unit of work ends.
    """

    def __init__(self, connection: AsyncConnection, adapted: Any) -> None:
        self._connection = connection
        self._sync: Any = connection.sync_connection
        self.begun = False
        # The tables this transaction wrote, which name its phase at the fail points
        # around the commit (adapters/failpoints.py); kept only while they are armed.
        self._written: set[str] = set()
        # The running call's idempotency key, when its claim and answer ride on this
        # connection's transactions (SqlUnitOfWork only).
        self.keys: KeyInTransaction | None = None
        # SQLAlchemy's adapter of the asyncpg connection, and asyncpg's connection.
        self._adapted = adapted
        self._driver = adapted.driver_connection
        self._savepoints = 0
        # autocommit(): None, a transaction as usual; True, the next statement that would
        # begin one runs alone instead; False, that statement ran (no other may follow).
        self._alone: bool | None = None
        # A statement cut off in flight (an outage, a timeout, a cancellation): the
        # connection's state is unknown and it must not go back to the pool.
        self.cut = False
        # A write held back until the next statement or the commit (adapters/sql/held.py).
        self._held: Chain | None = None

    @property
    def in_transaction(self) -> bool:
        """Whether the server has a transaction open on this connection (asyncpg's record
        of the server's last answer). None on a connection asyncpg has aborted (a
        statement cut off under a server that does not answer: its cancellation failed):
        the server ends whatever it held when the socket closes, and asyncpg's record is
        gone with it (asking would raise AttributeError, an INTERNAL for the caller)."""
        driver = self._driver
        return bool(driver is not None and not driver.is_closed() and driver.is_in_transaction())

    async def _control(self, sql: str) -> str:
        """A statement of transaction control, on asyncpg; its status ("COMMIT", ...)."""
        return await self._cut_when_interrupted(self._send_control(sql))

    async def _send_control(self, sql: str) -> str:
        adapted = self._adapted
        try:
            async with adapted._execute_mutex:
                if tracing.enabled():
                    with tracing.phase(sql.split(None, 1)[0], {"db.statement": sql}):
                        return str(await self._driver.execute(sql))
                return str(await self._driver.execute(sql))
        except Exception as error:
            raise await failed(self._connection, adapted, error, sql, []) from error

    def autocommit(self) -> None:
        """The next statement that would begin the transaction (a write) runs alone, as
        its own transaction: PostgreSQL commits it when it succeeds and undoes it when it
        fails, atomically, and no BEGIN or COMMIT is sent. Exactly one such statement:
        another write after it (or a savepoint, a locking read) is refused, since it could
        not be undone with the first. Plain reads before and after run alone as always.

        Only before the transaction begins, and only on a unit of work that carries no
        idempotency key: the gateway's (SqlUnitOfWork) takes the running call's claim
        in its first transaction's BEGIN and writes its answer before that COMMIT,
        which a statement alone would skip. The vault's carries none."""
        if self.begun or self.in_transaction:
            raise RuntimeError("autocommit() after the transaction began")
        if self.keys is not None:
            raise RuntimeError("autocommit() with an idempotency key riding on the transaction")
        self._alone = True

    def hold(self, write: HeldWrite) -> bool:
        """Holds `write` back until the next statement or the commit, when no transaction
        has begun (adapters/sql/held.py): a gate starts the chain, a follower joins the
        chain held; False: not held (the caller sends it, after what is held)."""
        if self.begun or self._alone is not None:
            return False
        held = self._held
        if held is None:
            if not isinstance(write, Gate):
                return False
            self._held = Chain(write)
            return True
        joined = held.joined(write)
        if joined is None:
            return False
        self._held = joined
        return True

    def wrote_nothing(self) -> None:
        """The statement that ran alone wrote nothing: the next write begins a
        transaction as usual (adapters/sql/held.py)."""
        if self._alone is False:
            self._alone = None

    async def _send_held(self) -> None:
        """Sends the held chain before any other statement, as it would have been sent
        without holding: the first write, which begins the transaction."""
        held, self._held = self._held, None
        if held is not None:
            await held.send(self)

    async def _commit_held(self, held: Chain) -> None:
        """Sends the held chain at the commit: alone, as its own transaction, when no
        transaction has begun. The running call's Idempotency-Key, if any, joins it: its
        answer once a committed transaction claimed it (KeyInTransaction.answer), its
        claim while none did (KeyInTransaction.claim); inside the transaction otherwise
        (a claim and an answer together: BEGIN, the claim, the writes, the answer)."""
        call = deferred()
        if self.begun or (call is not None and self.keys is None):
            await held.send(self)
            return
        if call is not None and self.keys is not None:
            # Claimed by a committed transaction: its answer may follow the gate. Still to
            # claim: the claim leads the chain (undone with it unless the gate wrote).
            write = self.keys.answer() if call.claimed else self.keys.claim()
            if write is None and not call.claimed:
                await held.send(self)
                return
            if write is not None:
                joined = held.joined(write)
                if joined is None:
                    await held.send(self)
                    return
                held = joined
        self._alone = True
        try:
            await held.send(self)
        finally:
            self._alone = None
        if not self.begun and self.keys is not None:
            self.keys.ended(committed=True)  # the statement alone committed

    async def write(self, statement: Any, params: Mapping[str, Any], tables: Iterable[str]) -> Any:
        """A statement that writes `tables`, whatever its top level (a held chain's is a
        SELECT over its writing CTEs): begins the transaction first, or runs alone."""
        if self._held is not None:
            await self._send_held()
        alone = await self._before_write(tables if ARMED else ())
        result = await self._cut_when_interrupted(self._execute(statement, (params,), {}))
        if alone is not None:
            fail_point(f"sql.commit.after:{alone}")
        return result

    async def _before_write(self, tables: Iterable[str]) -> str | None:
        """Begins the transaction a write needs; in autocommit, the phase of the one
        statement that runs alone instead (its fail point's name), or None. `tables`: those
        the write names, asked only while fail points are armed."""
        if self._alone is None:
            if not self.begun:
                await self.begin()
            self._written.update(tables)
            return None
        if not self._alone:
            raise RuntimeError("a unit of work in autocommit runs one statement")
        self._alone = False
        phase = "+".join(sorted(tables))
        fail_point(f"sql.commit.before:{phase}")
        return phase

    async def begin(self) -> None:
        if self._held is not None:
            await self._send_held()  # the held write begins the transaction
        if self.begun:
            return
        if self._alone is not None:
            raise RuntimeError("a unit of work in autocommit begins no transaction")
        await self._control("BEGIN ISOLATION LEVEL READ COMMITTED")
        self.begun = True
        if self.keys is not None:
            await self.keys.began(self)

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if self._held is not None:
            await self._send_held()
        alone = None
        if not plain_read(statement) and (not self.begun or self._alone is not None):
            alone = await self._before_write(tables_written(statement) if ARMED else ())
        elif ARMED:  # INSERT, UPDATE, DELETE, with those of their CTEs
            self._written |= tables_written(statement)
        result = await self._cut_when_interrupted(self._execute(statement, args, kwargs))
        if alone is not None:
            fail_point(f"sql.commit.after:{alone}")
        return result

    async def _execute(self, statement: Any, args: Any, kwargs: Any) -> Any:
        if not kwargs and len(args) <= 1:
            params = args[0] if args else None
            if params is None or type(params) is dict:
                form = prebuilt(statement, params, self._connection.dialect)
                if form is not None:
                    return await self._run(form, params)
            # Built per call: SQLAlchemy runs it, as AsyncConnection.execute does, on a
            # reused greenlet (no unit of work streams its results).
            return await run_sync(self._sync.execute, statement, *args)
        return await self._connection.execute(statement, *args, **kwargs)

    async def _cut_when_interrupted(self, call: Awaitable[T]) -> T:
        """`call`'s result; a statement that did not end with the server's own answer
        (the connection lost or timed out under it, the task cancelled mid-statement)
        marks the connection cut, so that it is discarded, never pooled."""
        try:
            return await call
        except BaseException as error:
            if not isinstance(error, Exception) or is_outage(error):
                self.cut = True
            raise

    async def _run(self, form: Prebuilt, params: Mapping[str, Any] | None) -> DriverResult:
        """A statement built once, on asyncpg, where SQLAlchemy would have sent it."""
        adapted = self._adapted
        args = form.arguments(params)
        try:
            return await send(adapted, form, args)
        except Exception as error:
            raise await failed(self._connection, adapted, error, form.sql, args) from error

    @property
    def dialect(self) -> Any:
        return self._connection.dialect

    async def write_driver_sql(self, table: str, sql: str, args: tuple[Any, ...]) -> Any:
        """A write compiled once to SQLAlchemy's own SQL (adapters/sql/rows.py), executed
        by asyncpg inside the transaction, begun first as for any write (or alone, in
        autocommit)."""
        if self._held is not None:
            await self._send_held()
        alone = await self._before_write((table,))
        result = await self._cut_when_interrupted(self._write_driver_sql(sql, args))
        if alone is not None:
            fail_point(f"sql.commit.after:{alone}")
        return result

    async def _write_driver_sql(self, sql: str, args: tuple[Any, ...]) -> Any:
        adapted = self._adapted
        try:
            async with adapted._execute_mutex:
                if tracing.enabled():
                    with tracing.phase("INSERT", {"db.statement": sql}):
                        return await self._driver.execute(sql, *args)
                return await self._driver.execute(sql, *args)
        except Exception as error:
            raise await failed(self._connection, adapted, error, sql, list(args)) from error

    async def read(self, statement: DriverRead, params: Mapping[str, Any]) -> list[Any]:
        """The rows of a plain read, as mappings, through asyncpg itself: alone before
        the transaction begins, inside it after (adapters/sql/driver_read.py)."""
        if self._held is not None:
            await self._send_held()
        return await self._cut_when_interrupted(self._read(statement, params))

    async def _read(self, statement: DriverRead, params: Mapping[str, Any]) -> list[Any]:
        compiled = statement.compiled(self._connection.dialect)
        args = compiled.arguments(params)
        adapted = self._adapted
        try:
            async with adapted._execute_mutex:
                if tracing.enabled():
                    with tracing.phase("SELECT", {"db.statement": compiled.sql}):
                        records = await self._driver.fetch(compiled.sql, *args)
                else:
                    records = await self._driver.fetch(compiled.sql, *args)
        except Exception as error:
            raise await failed(self._connection, adapted, error, compiled.sql, args) from error
        return compiled.rows(records)

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        """A savepoint, inside the transaction (begun here if need be): rolled back to
        if the block raises, released otherwise."""
        await self.begin()
        self._savepoints += 1
        name = f"paygate_savepoint_{self._savepoints}"
        await self._control(f"SAVEPOINT {name}")
        try:
            yield None
        except BaseException:
            if self.in_transaction:
                await self._control(f"ROLLBACK TO SAVEPOINT {name}")
                await self._control(f"RELEASE SAVEPOINT {name}")
            raise
        await self._control(f"RELEASE SAVEPOINT {name}")

    async def commit(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            try:
                await self._commit_held(held)
            except BaseException:
                if self.keys is not None:  # the answer concluded what was not written
                    self.keys.conclusion = None
                raise
        if not self.begun:
            if self.keys is not None:
                self.keys.ended(committed=False)
            return
        committed = False
        try:
            if self.keys is not None:
                await self.keys.committing(self)
            phase = "+".join(sorted(self._written)) if ARMED else ""
            fail_point(f"sql.commit.before:{phase}")
            status = await self._control("COMMIT")
            # PostgreSQL answers COMMIT of a transaction that failed with ROLLBACK.
            committed = status == "COMMIT"
        finally:
            if self.keys is not None:
                self.keys.ended(committed)
            if not self.in_transaction:  # ended, whichever way
                self._written.clear()
                self.begun = False
        if not committed:
            raise TransactionRolledBack("The transaction had failed; COMMIT rolled it back.")
        fail_point(f"sql.commit.after:{phase}")

    def abandon(self) -> None:
        """Forgets the transaction of a connection about to be discarded (cut)."""
        self._held = None
        if self.keys is not None:
            self.keys.ended(committed=False)
        self._written.clear()
        self.begun = False

    async def rollback(self) -> None:
        """Ends the transaction if the server has one open on this connection, whoever
        thinks otherwise."""
        self._held = None  # never sent: nothing of it was written
        if self.keys is not None:
            self.keys.ended(committed=False)
        self._written.clear()
        try:
            if self.begun or self.in_transaction:
                await self._control("ROLLBACK")
        finally:
            self.begun = False


class ConnectionCut(RuntimeError):
    """A statement on the connection was cut off in flight: it is discarded."""


class TransactionRolledBack(RuntimeError):
    """COMMIT found the transaction failed (an error inside it was caught and ignored)
    and rolled it back: nothing of it was written."""


class SqlTransaction:
    """`async with uow:` checks out a connection; the transaction begins with the first
    statement that writes or locks (LazyTransaction). Leaving without `commit()` rolls it
    back; the connection goes back to the pool either way. After `commit()` the unit of
    work may go on: the next such statement opens a new transaction.

    Subclasses put their context's repositories on the connection in `_bind`
    (SqlUnitOfWork here, SqlVaultUnitOfWork in adapters/sql/vault/).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._lazy: LazyTransaction | None = None
        # Traced: one span per unit of work, the phases of a payment around its
        # acquirer call (adapters/observability/tracing.py).
        self._span: contextlib.AbstractContextManager[Any] | None = None

    @property
    def connection(self) -> LazyTransaction:
        """The connection in use, for queries no repository offers (tests, reports)."""
        if self._lazy is None:
            raise RuntimeError("use the unit of work inside `async with`")
        return self._lazy

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("a unit of work is not reentrant")
        if tracing.enabled():
            self._span = tracing.phase(f"unit_of_work {type(self).__name__}")
            self._span.__enter__()
        try:
            connection, adapted = await check_out(self._engine)
        except BaseException as error:
            self._end_span(error)
            if isinstance(error, Exception) and is_outage(error):
                raise unavailable() from error
            raise
        lazy = LazyTransaction(connection, adapted)
        self._connection, self._lazy = connection, lazy
        self._bind(lazy)
        return self

    def _bind(self, connection: Any) -> None:
        raise NotImplementedError

    def _end_span(self, error: BaseException) -> None:
        span, self._span = self._span, None
        if span is not None:
            span.__exit__(type(error), error, None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, self._span = self._span, None
        try:
            await self._finish(exc)
        finally:
            if span is not None:
                span.__exit__(exc_type, exc, tb)

    async def _finish(self, exc: BaseException | None) -> None:
        connection, self._connection = self._connection, None
        lazy, self._lazy = self._lazy, None
        if connection is None or lazy is None:
            return
        try:
            if lazy.cut:
                # A statement cut off in flight (no answer from the server, a timeout, a
                # cancellation) leaves the connection's state unknown: asyncpg still busy
                # with it, a transaction maybe open. Discarded, never pooled; closing it
                # ends whatever the server still holds.
                lazy.abandon()
                raise ConnectionCut()
            await lazy.rollback()
        except BaseException:
            # A connection that cannot roll back never goes back to the pool with its
            # transaction: closed, the server ends it. Don't let that hide the error
            # already in flight.
            if not connection.invalidated:
                await connection.invalidate()
            if exc is None and not lazy.cut:
                raise
        finally:
            await check_in(connection)
        if isinstance(exc, DBAPIError):
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate in _RETRYABLE:
                raise Conflict(
                    "The transaction lost a race with another one; retry it.",
                    reason=_RETRYABLE[sqlstate],
                ) from exc
        if isinstance(exc, Exception) and not isinstance(exc, PaygateError) and is_outage(exc):
            # A transaction cut off before COMMIT left nothing behind; one cut off during
            # it is a lost reply, which the caller's idempotency key makes safe to retry.
            raise unavailable() from exc

    async def commit(self) -> None:
        await self.connection.commit()

    def autocommit(self) -> None:
        """The one write this unit of work makes runs alone, as its own transaction (no
        BEGIN, no COMMIT): see LazyTransaction.autocommit."""
        self.connection.autocommit()


class SqlUnitOfWork(SqlTransaction, UnitOfWork):
    """The gateway's unit of work (core/unit_of_work.py) on one PostgreSQL transaction;
    the repositories it carries are declared there, once, and built here.

    Each repository is built the first time the unit of work is asked for it after a
    checkout (`__getattr__`), on that checkout's connection: a use case asks for one or a
    few of the 26 (a GET of an intent, one), and building them all cost about 6 µs a
    unit of work (docs/performance.md, "The GET's path")."""

    # Declared for the type checker; each built by __getattr__ on first use.
    payment_intents: SqlPaymentIntents
    payment_events: SqlPaymentEvents
    payment_attempts: SqlPaymentAttempts
    refunds: SqlRefunds
    merchants: SqlMerchants
    api_keys: SqlApiKeys
    users: SqlUsers
    memberships: SqlMemberships
    invitations: SqlInvitations
    sessions: SqlSessions
    audit: SqlAuditLog
    rate_limit_overrides: SqlRateLimitOverrides
    business_profiles: SqlBusinessProfiles
    analytics: SqlPaymentAnalytics
    risk_overrides: SqlRiskOverrides
    ledger: SqlLedger
    merchant_terms: SqlMerchantTerms
    fx_rates: SqlFxRates
    settlements: SqlSettlements
    payouts: SqlPayouts
    disputes: SqlDisputes
    events: SqlEvents
    webhook_endpoints: SqlWebhookEndpoints
    webhook_deliveries: SqlDeliveries
    emails: SqlEmails
    mail_directory: SqlMailDirectory

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        fx_max_age: timedelta | None = None,
        secret_box: SecretBox | None = None,
    ) -> None:
        super().__init__(engine)
        self._fx_max_age = fx_max_age
        self._box = secret_box or SecretBox()
        # The connection the repositories are built on (the last checkout's, kept after
        # it as the repositories built then were), and the names built on it.
        self._bound: Any = None
        self._built: list[str] = []

    def _bind(self, connection: Any) -> None:
        self._keys = connection.keys = KeyInTransaction()
        # A unit of work entered again gets repositories on its new connection.
        for name in self._built:
            del self.__dict__[name]
        self._built.clear()
        self._bound = connection

    def __getattr__(self, name: str) -> Any:
        # Only for a name not found on the instance: a repository not built yet.
        build = _REPOSITORIES.get(name)
        bound = self.__dict__.get("_bound")
        if build is None or bound is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        repository = self.__dict__[name] = build(self, bound)
        self._built.append(name)
        return repository

    def conclude(self, answer: object) -> None:
        self._keys.conclusion = answer


# Each repository of SqlUnitOfWork by its name, built on the checkout's connection.
_REPOSITORIES: dict[str, Callable[[SqlUnitOfWork, Any], Any]] = {
    "payment_intents": lambda uow, c: SqlPaymentIntents(c),
    "payment_events": lambda uow, c: SqlPaymentEvents(c),
    "payment_attempts": lambda uow, c: SqlPaymentAttempts(c),
    "refunds": lambda uow, c: SqlRefunds(c),
    "merchants": lambda uow, c: SqlMerchants(c),
    "api_keys": lambda uow, c: SqlApiKeys(c),
    "users": lambda uow, c: SqlUsers(c),
    "memberships": lambda uow, c: SqlMemberships(c),
    "invitations": lambda uow, c: SqlInvitations(c),
    "sessions": lambda uow, c: SqlSessions(c),
    "audit": lambda uow, c: SqlAuditLog(c),
    "rate_limit_overrides": lambda uow, c: SqlRateLimitOverrides(c),
    "business_profiles": lambda uow, c: SqlBusinessProfiles(c),
    "analytics": lambda uow, c: SqlPaymentAnalytics(c),
    "risk_overrides": lambda uow, c: SqlRiskOverrides(c),
    "ledger": lambda uow, c: SqlLedger(c),
    "merchant_terms": lambda uow, c: SqlMerchantTerms(c),
    "fx_rates": lambda uow, c: SqlFxRates(c, max_age=uow._fx_max_age),
    "settlements": lambda uow, c: SqlSettlements(c),
    "payouts": lambda uow, c: SqlPayouts(c),
    "disputes": lambda uow, c: SqlDisputes(c),
    "events": lambda uow, c: SqlEvents(c),
    "webhook_endpoints": lambda uow, c: SqlWebhookEndpoints(c, uow._box),
    "webhook_deliveries": lambda uow, c: SqlDeliveries(c, uow._box),
    "emails": lambda uow, c: SqlEmails(c),
    "mail_directory": lambda uow, c: SqlMailDirectory(c),
}


class SqlUnitOfWorkFactory:
    """Callable that returns a new SqlUnitOfWork: core's UnitOfWorkFactory."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        fx_max_age: timedelta | None = None,
        secret_box: SecretBox | None = None,
    ) -> None:
        self.engine = engine
        # Rates older than this are refused (FX_RATE_UNAVAILABLE); None: no limit.
        self.fx_max_age = fx_max_age
        # Seals webhook secrets at rest (PAYGATE_WEBHOOK_SECRET_KEY).
        self.secret_box = secret_box or SecretBox()

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, fx_max_age=self.fx_max_age, secret_box=self.secret_box)
