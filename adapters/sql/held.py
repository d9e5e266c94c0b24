"""Writes the unit of work holds back, to send as one statement at its commit.

A phase of a payment writes a few times: the intent with its history (and the attempt
with it), the ledger's entry with its postings, the outbox's event with its deliveries,
the Idempotency-Key's answer. Sent as they come, that is BEGIN, a statement each and
COMMIT. Held back, they make one chain (`Chain`): its first write, the gate, is a
versioned or conditional write that may write nothing (a version moved, more subscribed
endpoints than delivery ids made ahead); every later write, a follower, reads FROM the
gate's CTE, so it writes once the gate wrote and never otherwise:

    WITH <the gate's CTEs>          -- e.g. saved (the intent), lines, written (the attempt)
         <each follower's CTEs>     -- e.g. entry, posted, unsettled; subscribed, made, event
    SELECT <the gate's results>, <how many rows each follower wrote>

The commit sends that statement alone when no transaction has begun
(LazyTransaction._commit_held): PostgreSQL commits one statement by itself, all or
nothing, so every write of the chain commits together or not at all, in one round trip.
When the gate wrote nothing, nothing was written, and the chain's writes are sent one by
one as before, in a transaction (`wrote_nothing`): the gate's own write then answers as
it always did (a moved version's conflict, for the caller to read the rows locked).

A chain may also carry a write that does not read FROM the gate but guards it instead
(`Follower.leads`: the Idempotency-Key's claim, in a phase that takes it): the gate writes
only once that write wrote, and the statement's SELECT ends with `paygate_chain_gate(
EXISTS (SELECT FROM <the gate's CTE>))` (migration 0023_chain_abort), which raises
SQLSTATE `CHAIN_ABORTED` when the gate wrote nothing: PostgreSQL then undoes the whole
statement, the leading write with it, and the chain's writes are sent one by one in a
transaction, as when a gate wrote nothing (docs/payments.md, "Phase 1 in one statement").

Holding changes only when a write is sent, never what is written: any other statement
(a read, a write that does not join, a savepoint) sends the held chain first, inside the
transaction as before, and a unit of work left without commit sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, and_, exists, func, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError

# The SQLSTATE of paygate_chain_gate (migration 0023_chain_abort): a chain's gate wrote
# nothing in a statement whose leading write may have written; the statement is undone.
CHAIN_ABORTED = "PGH01"


class HeldWrite:
    """A write a unit of work may hold back: a gate or a follower of a chain."""

    # The tables it writes: the fail points around the statement name them all.
    tables: frozenset[str] = frozenset()

    async def send(self, connection: Any) -> None:
        """Writes it through `connection` (LazyTransaction), by itself, as it would have
        been written had it not been held."""
        raise NotImplementedError

    def shape(self) -> Hashable:
        """What the chain's statement depends on (built once per chain of shapes)."""
        return type(self).__qualname__

    def params(self) -> dict[str, Any]:
        """Its parameters in the chain's statement (names no other write of it uses)."""
        raise NotImplementedError

    def failed(self, error: IntegrityError) -> Exception | None:
        """The error to raise for a constraint of its own that the statement violated."""
        return None


class Gate(HeldWrite):
    """The first write of a chain: written only when `guard` holds."""

    def written(self, guard: ColumnElement[bool] | None) -> tuple[list[CTE], CTE, list[Any]]:
        """Its CTEs; the one of them that returns one row when it wrote and none
        otherwise; and its results (scalar subqueries), the first NULL when it did not."""
        raise NotImplementedError

    def wrote(self, results: Sequence[Any]) -> None:
        """Its results, once the chain's statement wrote it."""


class Follower(HeldWrite):
    """A later write of a chain: written once the gate wrote (the one row of the gate's
    CTE), and only then."""

    # A write that guards the gate instead (its condition reads the write's own CTE,
    # built before the gate's): it writes whether or not the gate does, so the statement
    # is undone (CHAIN_ABORTED) when the gate wrote nothing.
    leads = False

    def built(self) -> tuple[ColumnElement[bool] | None, Callable[[CTE], tuple[list[CTE], CTE]]]:
        """A condition the gate must meet for it to write everything (None: none), and
        its build after the gate's CTE: its CTEs, in order, and the CTE whose rows
        count what it wrote."""
        raise NotImplementedError

    def wrote(self, rows: int) -> None:
        """How many rows its counted CTE wrote, once the chain's statement ran."""


class Chain:
    """A gate and its followers, held back as one write (at most one follower of each
    kind: their parameters' names are their kind's)."""

    __slots__ = ("followers", "gate")

    def __init__(self, gate: Gate, followers: tuple[Follower, ...] = ()) -> None:
        self.gate = gate
        self.followers = followers

    def joined(self, write: HeldWrite) -> Chain | None:
        """This chain with `write` as its next follower, or None when it cannot join."""
        if not isinstance(write, Follower) or any(type(f) is type(write) for f in self.followers):
            return None
        return Chain(self.gate, (*self.followers, write))

    @property
    def tables(self) -> frozenset[str]:
        return self.gate.tables.union(*(f.tables for f in self.followers))

    def statement(self) -> tuple[Any, dict[str, Any]]:
        """The chain's one statement (built once per shape) and its parameters."""
        params = self.gate.params()
        for follower in self.followers:
            params |= follower.params()
        return _statement(self)[0], params

    async def send(self, connection: Any) -> None:
        """The chain's writes through `connection`: one statement, or the gate alone as
        it would have been sent when nothing follows it."""
        if not self.followers:
            await self.gate.send(connection)
            return
        statement, params = self.statement()
        width = _statement(self)[1]
        try:
            row = (await connection.write(statement, params, self.tables)).one()
        except IntegrityError as error:
            for write in (self.gate, *self.followers):
                if (failure := write.failed(error)) is not None:
                    raise failure from error
            raise
        except DBAPIError as error:
            if not aborted(error):
                raise
            row = (None,)  # undone whole: nothing was written
        if row[0] is None:
            # The gate wrote nothing, so nothing was: each write by itself, as before.
            connection.wrote_nothing()
            for write in (self.gate, *self.followers):
                await write.send(connection)
            return
        self.gate.wrote(row[:width])
        counts = row[width : width + len(self.followers)]
        for follower, rows in zip(self.followers, counts, strict=True):
            follower.wrote(rows)


def aborted(error: DBAPIError) -> bool:
    """Whether `error` is the chain's own undoing (paygate_chain_gate), and no other."""
    return getattr(error.orig, "sqlstate", None) == CHAIN_ABORTED


# The chains' statements, by the shapes of their writes: a handful (a create's, a
# confirm's phases, each with or without the key's answer), times the intent's column sets.
_BUILT: dict[tuple[Hashable, ...], tuple[Any, int]] = {}


def _statement(chain: Chain) -> tuple[Any, int]:
    """The chain's one statement and the number of the gate's results."""
    key = (chain.gate.shape(), *(f.shape() for f in chain.followers))
    built = _BUILT.get(key)
    if built is None:
        built = _BUILT[key] = _build(chain)
    return built


def _build(chain: Chain) -> tuple[Any, int]:
    # The gate is guarded by the followers' conditions; they read its CTE.
    built = [follower.built() for follower in chain.followers]
    conditions = [condition for condition, _ in built if condition is not None]
    gated, gate, results = chain.gate.written(and_(*conditions) if conditions else None)
    leading: list[CTE] = []
    following: list[CTE] = []
    counted: list[Any] = []
    for follower, (_, after) in zip(chain.followers, built, strict=True):
        own, rows = after(gate)
        (leading if follower.leads else following).extend(own)
        counted.append(select(func.count()).select_from(rows).scalar_subquery())
    if leading:  # undone unless the gate wrote (CHAIN_ABORTED)
        counted.append(func.paygate_chain_gate(exists(select(literal(1)).select_from(gate))))
    statement = select(*results, *counted).add_cte(*leading, *gated, *following)
    return statement, len(results)


def hold(connection: Any, write: HeldWrite) -> bool:
    """Whether `connection` holds `write` back (a unit of work's, before its transaction
    began); False: the caller sends it now."""
    held = getattr(connection, "hold", None)
    return held is not None and bool(held(write))
