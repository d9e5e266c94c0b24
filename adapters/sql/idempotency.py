"""Idempotency records in PostgreSQL: each operation is one statement of its own, in
autocommit on the driver's connection (SqlIdempotencyStore), or rides on the call's own
transactions (KeyInTransaction, core/idempotency/call.py).

The claim is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <may take over> RETURNING`:
it inserts a new key, or takes over an expired or crashed one, atomically, in the
statement's own implicit transaction (the store runs it alone, in autocommit). When it
does neither, the store reads the holding record alone next: if this claim would still
lose to it, that record is the answer (the claim and the read linearize at the read: a
holder that completed meanwhile is read completed). Should the read find the key free
(released or reaped meanwhile) or held by a record this claim may take over, the claim
and the read run again in one transaction, where the claim's conflict locks the holding
row (ON CONFLICT DO UPDATE locks the conflicting row even when its WHERE is false), so
the read sees it as it stands. A concurrent duplicate waits only for the winner's claim
statement (one insert), never for the call itself: it then sees IN_FLIGHT and is
answered 409 at once. Claimed by the call's first writing transaction instead (a
payment's phase 1), a duplicate waits for that transaction, which never spans an
acquirer call either. The same statement records a tokenization's key with its answer
after the call (docs/idempotency.md): a duplicate that recorded first is read back the
same way, and its answer is the one sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Any, Protocol

import asyncpg
from sqlalchemy import (
    CTE,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    delete,
    exists,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.checkout import check_in, check_out
from adapters.sql.driver_read import translated
from adapters.sql.errors import is_outage, unavailable
from adapters.sql.held import Follower
from adapters.sql.prebuilt import DriverResult, Prebuilt, built_once, send
from adapters.sql.tables import idempotency_keys as keys
from core.idempotency.call import ClaimLost, DeferredClaim, deferred
from core.idempotency.model import Claim, Outcome, Record, Scope, State, may_take_over

_PRIMARY_KEY = (keys.c.merchant_id, keys.c.key, keys.c.method)


def _values(record: Record) -> dict[str, Any]:
    outcome = record.outcome
    return {
        "merchant_id": record.scope.merchant_id,
        "key": record.scope.key,
        "method": record.scope.method,
        "request_hash": record.request_hash,
        "status": record.state.value,
        "response": outcome.response if outcome else None,
        "error_code": outcome.error_code if outcome else None,
        "error_status": outcome.error_status if outcome else None,
        "created_at": record.created_at,
        "completed_at": record.completed_at,
        "locked_until": record.locked_until,
    }


def _record(row: Mapping[Any, Any]) -> Record:
    state = State(row["status"])
    outcome = None
    if state is State.COMPLETED:
        outcome = Outcome(
            response=row["response"],
            error_code=row["error_code"],
            error_status=row["error_status"],
        )
    return Record(
        scope=Scope(merchant_id=row["merchant_id"], method=row["method"], key=row["key"]),
        request_hash=bytes(row["request_hash"]),
        state=state,
        created_at=row["created_at"],
        locked_until=row["locked_until"],
        completed_at=row["completed_at"],
        outcome=outcome,
    )


# The claim and the completion run on every call with an Idempotency-Key, so they are
# built once, with named parameters: SQLAlchemy memoizes a statement object's cache key,
# so executing the same object costs no construction and no cache-key walk per call
# (docs/performance.md, "CPU per payment, by profile").
_NEW = insert(keys).values({column.name: bindparam(f"p_{column.name}") for column in keys.columns})

CLAIM = _NEW.on_conflict_do_update(
    index_elements=list(_PRIMARY_KEY),
    set_={
        column.name: _NEW.excluded[column.name] for column in keys.columns if not column.primary_key
    },
    where=or_(
        keys.c.created_at <= bindparam("p_expired_before"),
        and_(
            keys.c.status == State.IN_FLIGHT.value,
            keys.c.locked_until <= bindparam("p_now"),
            keys.c.request_hash == _NEW.excluded.request_hash,
        ),
    ),
).returning(keys.c.merchant_id)

_HELD = and_(
    keys.c.merchant_id == bindparam("p_merchant_id"),
    keys.c.key == bindparam("p_key"),
    keys.c.method == bindparam("p_method"),
    keys.c.status == State.IN_FLIGHT.value,
    keys.c.locked_until == bindparam("p_locked_until"),
)

# The key's row by its scope: read before every call with an Idempotency-Key.
_FIND = select(keys).where(
    keys.c.merchant_id == bindparam("p_merchant_id"),
    keys.c.key == bindparam("p_key"),
    keys.c.method == bindparam("p_method"),
)


def _scope_parameters(scope: Scope) -> dict[str, Any]:
    return {"p_merchant_id": scope.merchant_id, "p_key": scope.key, "p_method": scope.method}


COMPLETE = (
    update(keys)
    .where(_HELD)
    .values(
        status=State.COMPLETED.value,
        response=bindparam("p_response"),
        error_code=bindparam("p_error_code"),
        error_status=bindparam("p_error_status"),
        completed_at=bindparam("p_completed_at"),
    )
)


def claim_parameters(record: Record, now: datetime, expired_before: datetime) -> dict[str, Any]:
    """CLAIM's parameters: inserts `record` (IN_FLIGHT, or COMPLETED with the answer of a
    call recorded after it ran) or takes an expired or crashed record over; returns a row
    only when it did (the rule of IdempotencyStore.claim)."""
    parameters = {f"p_{name}": value for name, value in _values(record).items()}
    parameters["p_now"], parameters["p_expired_before"] = now, expired_before
    return parameters


def complete_parameters(claim: Claim, outcome: Outcome, at: datetime) -> dict[str, Any]:
    """COMPLETE's parameters: marks the claimed record COMPLETED; touches no row once the
    claim lost the key."""
    return {
        "p_merchant_id": claim.scope.merchant_id,
        "p_key": claim.scope.key,
        "p_method": claim.scope.method,
        "p_locked_until": claim.locked_until,
        "p_response": outcome.response,
        "p_error_code": outcome.error_code,
        "p_error_status": outcome.error_status,
        "p_completed_at": at,
    }


class Executor(Protocol):
    async def execute(self, statement: Any, parameters: dict[str, Any]) -> Any: ...


class KeyInTransaction:
    """The unit of work's side of core/idempotency/call.py: the running call's deferred
    claim is taken by the first statement of its first writing transaction, and its
    answer stored just before the COMMIT of the transaction that concludes it. Whether
    either happened is told to the call only once that transaction has committed."""

    def __init__(self) -> None:
        self.conclusion: object | None = None  # set by UnitOfWork.conclude
        self._claiming: DeferredClaim | None = None
        self._answering: tuple[DeferredClaim, Outcome] | None = None

    async def began(self, connection: Executor) -> None:
        call = deferred()
        if call is None or call.claimed or call.claiming:
            return
        claim = claim_parameters(call.record, call.now, call.expired_before)
        if (await connection.execute(CLAIM, claim)).first() is None:
            raise ClaimLost(call.record.scope.method)
        call.claiming, self._claiming = True, call

    def _answer(self) -> tuple[DeferredClaim, Outcome, dict[str, Any]] | None:
        """The call's answer to store with this transaction, and COMPLETE's parameters."""
        conclusion, call = self.conclusion, deferred()
        if conclusion is None or call is None or call.render is None:
            return None
        if not (call.claimed or self._claiming is call):
            return None
        response = call.render(conclusion)
        if response is None:
            return None
        outcome = Outcome.succeeded(response)
        return call, outcome, complete_parameters(call.claim, outcome, call.clock.now())

    async def committing(self, connection: Executor) -> None:
        answer, self.conclusion = self._answer(), None
        if answer is None:
            return
        call, outcome, parameters = answer
        if (await connection.execute(COMPLETE, parameters)).rowcount == 1:
            self._answering = (call, outcome)

    def claim(self) -> KeyClaimed | None:
        """The claim's write as the leading write of a held chain sent alone (adapters/sql/
        held.py), for a call whose key no transaction claimed yet; None: the claim is
        taken at BEGIN as before (none to take, or an answer to store with it, which
        must see the claimed row)."""
        call = deferred()
        if call is None or call.claimed or call.claiming or self._answer_due(call):
            return None
        return KeyClaimed(self, call)

    def _answer_due(self, call: DeferredClaim) -> bool:
        return self.conclusion is not None and call.render is not None

    def answer(self) -> KeyAnswered | None:
        """The answer's write as the last of a held chain sent alone (adapters/sql/held.py),
        for a call whose key a committed transaction claimed; None: nothing to store."""
        answer = self._answer()
        return KeyAnswered(self, *answer) if answer is not None else None

    def ended(self, committed: bool) -> None:
        claiming, self._claiming = self._claiming, None
        answering, self._answering = self._answering, None
        self.conclusion = None
        if claiming is not None:
            claiming.claiming, claiming.claimed = False, committed
        if answering is not None and committed:
            answering[0].answer = answering[1]


def _answered_after(gate: CTE) -> tuple[list[CTE], CTE]:
    answered = COMPLETE.where(exists(select(literal(1)).select_from(gate)))
    done = answered.returning(keys.c.merchant_id).cte("answered")
    return [done], done


class KeyAnswered(Follower):
    """The call's answer stored once the chain's gate wrote (COMPLETE, as
    KeyInTransaction.committing sends it). Sent by itself, it is nothing: a chain that
    falls back to a transaction stores the answer before that COMMIT, as always."""

    tables = frozenset({"idempotency_keys"})

    def __init__(
        self, keys: KeyInTransaction, call: DeferredClaim, outcome: Outcome, params: dict[str, Any]
    ) -> None:
        self._keys = keys
        self._call = call
        self._outcome = outcome
        self._params = params

    async def send(self, connection: Any) -> None:
        return None

    def params(self) -> dict[str, Any]:
        return self._params

    def built(self) -> tuple[None, Callable[[CTE], tuple[list[CTE], CTE]]]:
        return None, _answered_after

    def wrote(self, rows: int) -> None:
        self._keys.conclusion = None
        if rows == 1:
            self._keys._answering = (self._call, self._outcome)


def _claimed_after(claimed: CTE, gate: CTE) -> tuple[list[CTE], CTE]:
    return [claimed], claimed


class KeyClaimed(Follower):
    """The call's claim (CLAIM, as KeyInTransaction.began sends it) leading a held chain:
    the gate writes only once the claim wrote, and the statement is undone when the gate
    wrote nothing (adapters/sql/held.py, CHAIN_ABORTED). Sent by itself, it is nothing: a
    chain that falls back to a transaction takes the claim at its BEGIN, as always."""

    tables = frozenset({"idempotency_keys"})
    leads = True

    def __init__(self, keys: KeyInTransaction, call: DeferredClaim) -> None:
        self._keys = keys
        self._call = call

    async def send(self, connection: Any) -> None:
        return None

    def params(self) -> dict[str, Any]:
        call = self._call
        return claim_parameters(call.record, call.now, call.expired_before)

    def built(self) -> tuple[ColumnElement[bool], Callable[[CTE], tuple[list[CTE], CTE]]]:
        claimed = CLAIM.cte("claimed")
        return exists(select(literal(1)).select_from(claimed)), partial(_claimed_after, claimed)

    def wrote(self, rows: int) -> None:
        if rows == 1:  # always, once the statement was not undone
            self._call.claiming, self._keys._claiming = True, self._call


class _Alone:
    """A statement built once, compiled once per dialect and set of parameter names to
    the SQL SQLAlchemy would send (adapters/sql/prebuilt.py), and run by asyncpg alone."""

    __slots__ = ("_forms", "statement")

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._forms: dict[tuple[Dialect, tuple[str, ...]], Prebuilt] = {}

    def form(self, dialect: Dialect, names: tuple[str, ...]) -> Prebuilt:
        try:
            return self._forms[dialect, names]
        except KeyError:
            form = built_once(self.statement, names, dialect)
            if form is None:
                raise TypeError("a statement the store runs alone must compile once") from None
            self._forms[dialect, names] = form
            return form


RELEASE = delete(keys).where(_HELD)

# The oldest records, up to a limit, that no other reaper has locked.
_OLDEST = (
    select(*_PRIMARY_KEY)
    .where(keys.c.created_at <= bindparam("p_created_before"))
    .order_by(keys.c.created_at)
    .limit(bindparam("p_limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
REAP = delete(keys).where(tuple_(*_PRIMARY_KEY).in_(_OLDEST))

_CLAIM_ALONE, _FIND_ALONE = _Alone(CLAIM), _Alone(_FIND)
_COMPLETE_ALONE, _RELEASE_ALONE, _REAP_ALONE = _Alone(COMPLETE), _Alone(RELEASE), _Alone(REAP)


def _answered(error: BaseException, driver: Any) -> bool:
    """Whether the server answered the statement with `error` on a connection that is
    still fit for the next statement: an error of PostgreSQL's about the statement itself
    (asyncpg then has read up to the server's ReadyForQuery), not a cancellation, a
    timeout, a reset or a server going away."""
    return (
        isinstance(error, asyncpg.PostgresError) and not is_outage(error) and not driver.is_closed()
    )


def _cancelling() -> bool:
    """Whether the running task is being cancelled (by its caller, a timeout of its own,
    the server stopping), as opposed to a CancelledError raised from within asyncpg."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _discard(connection: AsyncConnection, driver: Any, error: BaseException) -> None:
    """The connection, whose statement was interrupted, never back in the pool: asyncpg's
    side is closed at once (a later user would otherwise find the statement still
    running: "another operation is in progress") and the pool's record invalidated.
    Synchronous on purpose: nothing here awaits, so a second cancellation cannot leave
    it half done."""
    driver.terminate()
    sync = connection.sync_connection
    if sync is not None and not sync.invalidated:
        # Outside a greenlet, SQLAlchemy closes the asyncpg connection without awaiting
        # (it is closed already).
        sync.invalidate(error if isinstance(error, Exception) else None)


class SqlIdempotencyStore:
    """Each operation is one statement, sent by asyncpg in autocommit on a connection
    checked out of the engine's pool for it (`_alone`): the statement's implicit
    transaction is as atomic as BEGIN, statement, COMMIT, two round trips fewer
    (docs/performance.md, "The Idempotency-Key store, one statement each")."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _alone(self, statement: _Alone, parameters: dict[str, Any]) -> DriverResult:
        """`statement` run alone, in autocommit, on a pooled connection of its own.

        An outage (the server gone, unreachable, timed out; the pool exhausted) raises
        Unavailable. A connection whose statement did not come back with the server's
        own answer (timeout, cancellation, reset) is discarded, never pooled."""
        try:
            connection, adapted = await check_out(self._engine)
        except Exception as error:
            if is_outage(error):
                raise unavailable() from error
            raise
        try:
            driver = adapted.driver_connection
            form = statement.form(connection.dialect, tuple(parameters))
            args = form.arguments(parameters)
            try:
                return await send(adapted, form, args)
            except BaseException as error:
                if not _answered(error, driver):
                    _discard(connection, driver, error)
                if isinstance(error, asyncio.CancelledError) and not _cancelling():
                    # Not this call's cancellation: the driver's, its connection gone
                    # under the statement.
                    raise unavailable() from error
                if not isinstance(error, Exception):
                    raise  # this call's cancellation goes on as it came
                failure = translated(connection.dialect, adapted, error, form.sql, args)
                if is_outage(failure):
                    raise unavailable() from failure
                raise failure from error
        finally:
            await check_in(connection)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as connection:
                yield connection
        except Exception as error:
            if is_outage(error):
                raise unavailable() from error
            raise

    async def claim(
        self, record: Record, *, now: datetime, expired_before: datetime
    ) -> Record | None:
        parameters = claim_parameters(record, now, expired_before)
        if (await self._alone(_CLAIM_ALONE, parameters)).scalar() is not None:
            return None
        # Lost: the holder, read alone, is the answer when this claim would lose to it
        # now, as it stands (the claim and the read linearize at the read). Gone
        # meanwhile (released, reaped) or now one this claim may take over: the claim and
        # the read again in one transaction, where the claim's row lock holds the row.
        held = await self.find(record.scope)
        if held is not None and not may_take_over(
            held, record.request_hash, now, now - expired_before
        ):
            return held
        async with self._transaction() as connection:
            claimed = await connection.execute(CLAIM, parameters)
            if claimed.first() is not None:
                return None
            found = await connection.execute(_FIND, _scope_parameters(record.scope))
            return _record(found.mappings().one())

    async def find(self, scope: Scope) -> Record | None:
        row = (await self._alone(_FIND_ALONE, _scope_parameters(scope))).mappings().first()
        return None if row is None else _record(row)

    async def complete(self, claim: Claim, outcome: Outcome, at: datetime) -> bool:
        parameters = complete_parameters(claim, outcome, at)
        return (await self._alone(_COMPLETE_ALONE, parameters)).rowcount == 1

    async def release(self, claim: Claim) -> bool:
        parameters = _scope_parameters(claim.scope)
        parameters["p_locked_until"] = claim.locked_until
        return (await self._alone(_RELEASE_ALONE, parameters)).rowcount == 1

    async def reap(self, created_before: datetime, limit: int) -> int:
        parameters = {"p_created_before": created_before, "p_limit": limit}
        return (await self._alone(_REAP_ALONE, parameters)).rowcount
