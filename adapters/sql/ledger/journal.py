"""The journal on PostgreSQL: append-only entries and postings, balances from checkpoints.

docs/ledger.md ("Balances without a hot row", "Persistence") is the design; in short:

- `append` inserts the entry (with its balance transaction), its postings (a statement
  trigger checks they balance per currency) and, when it has a balance transaction, a
  row of the unsettled queue, in one statement. Nothing is ever updated, so two
  captures of one merchant, or of every merchant through the one acquirer clearing
  account, never wait for each other.
- A balance is the account's latest checkpoint plus the sum of its postings with
  `xid >= below_xid`: an index range scan of the (account, xid) index's recent tail.
  `take_checkpoints` (worker role, daily and when tails grow) inserts new checkpoints
  below the watermark W = pg_snapshot_xmin(pg_current_snapshot()): every transaction
  with an xid below W has ended, so no posting below W can still appear.
- `lock_funds` is a transaction-level advisory lock on (merchant, currency), taken by
  every debit of merchant funds before it reads them; captures never take it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    RowMapping,
    SmallInteger,
    any_,
    bindparam,
    func,
    insert,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from adapters.sql.errors import constraint_of, is_unique_violation
from adapters.sql.held import Follower, hold
from adapters.sql.tables import (
    ledger_entries,
    ledger_postings,
    ledger_unsettled,
)
from core.ledger.accounts import Account
from core.ledger.fx import FxRate
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    EntryKind,
    JournalEntry,
    Posting,
)
from core.ledger.projections import balance_transaction
from core.shared.errors import AlreadyExists
from core.shared.money import Money


def _text_array(name: str, values: list[str]) -> Any:
    """A list as one text[] parameter (= ANY(...)), whatever its length: an expanding IN
    sends one parameter per value, and asyncpg takes at most 32767."""
    return bindparam(name, values, type_=ARRAY(Text))


# --- entries and balances ---------------------------------------------------------------


# The entry's columns, as `_entry_values` names them.
_ENTRY_COLUMNS = tuple(column.name for column in ledger_entries.c)


def _append() -> Any:
    """One statement for an entry, its postings and its row of the unsettled queue (a
    capture's three writes, one round trip): the entry's INSERT is a CTE, the postings'
    INSERT another, reading the entry's row once per line of four parallel arrays (any
    number of postings, one statement text), and the unsettled row is the top level,
    inserted only when the entry has a balance transaction.

    Every check holds as it did with three statements: the postings' statement trigger
    sees exactly the postings of this statement (its transition table), the foreign keys
    to the entry are checked at the statement's end, when the entry's row is there, and a
    duplicate entry id fails on the entry's key, the first write (the postings and the
    queue read the entry's CTE, so it runs before them).

    It is an INSERT at the top, not a SELECT with writing CTEs: the unit of work begins
    its transaction before any statement but a plain SELECT (LazyTransaction), and a
    SELECT would be run alone, committed outside the change's transaction."""
    _, posted, unsettled = _appended()
    return unsettled.add_cte(posted)


def _appended(prefix: str = "", after: Any = None) -> tuple[Any, Any, Any]:
    """`_append`'s three writes: the entry's CTE, the postings' CTE and the unsettled
    row's INSERT. Parameters named with `prefix`; with `after` (a held chain's gate,
    adapters/sql/held.py), the entry is written once per row of it, so only with it."""
    e = ledger_entries.c
    values = [bindparam(f"{prefix}{name}", type_=e[name].type) for name in _ENTRY_COLUMNS]
    added = insert(ledger_entries)
    added = (
        added.values(dict(zip(_ENTRY_COLUMNS, values, strict=True)))
        if after is None
        else added.from_select(list(_ENTRY_COLUMNS), select(*values).select_from(after))
    )
    entry = added.returning(
        e.id, e.merchant_id, e.created, e.livemode, e.bt_currency, e.bt_available_on
    ).cte(f"{prefix}entry")
    line = (
        func.unnest(
            bindparam(f"{prefix}positions", type_=ARRAY(SmallInteger)),
            bindparam(f"{prefix}accounts", type_=ARRAY(Text)),
            bindparam(f"{prefix}currencies", type_=ARRAY(Text)),
            bindparam(f"{prefix}amounts", type_=ARRAY(BigInteger)),
        )
        .table_valued("position", "account", "currency", "amount")
        .render_derived(name="line")
    )
    posted = (
        insert(ledger_postings)
        .from_select(
            ["entry_id", "position", "account", "merchant_id", "currency", "amount", "created"],
            select(
                entry.c.id,
                line.c.position,
                line.c.account,
                entry.c.merchant_id,
                line.c.currency,
                line.c.amount,
                entry.c.created,
            ).select_from(entry.join(line, true())),
        )
        .cte(f"{prefix}posted")
    )
    unsettled = insert(ledger_unsettled).from_select(
        ["transaction_id", "merchant_id", "currency", "available_on", "livemode"],
        select(
            entry.c.id,
            entry.c.merchant_id,
            entry.c.bt_currency,
            entry.c.bt_available_on,
            entry.c.livemode,
        ).where(entry.c.bt_currency.is_not(None)),
    )
    return entry, posted, unsettled


def _appended_after(gate: Any) -> tuple[list[Any], Any]:
    entry, posted, unsettled = _appended("l_", gate)
    return [entry, posted, unsettled.cte("l_unsettled")], entry


class EntryAppended(Follower):
    """An entry with its postings, held back to follow a chain's gate (held.py)."""

    tables = frozenset({"ledger_entries", "ledger_postings", "ledger_unsettled"})

    def __init__(self, entry: JournalEntry) -> None:
        self.entry = entry

    async def send(self, connection: Any) -> None:
        await _append_now(connection, self.entry)

    def params(self) -> dict[str, Any]:
        return {f"l_{name}": value for name, value in _append_params(self.entry).items()}

    def built(self) -> tuple[None, Callable[[Any], tuple[list[Any], Any]]]:
        return None, _appended_after

    def failed(self, error: IntegrityError) -> Exception | None:
        return _entry_exists(error, self.entry)


# Built once: SQLAlchemy reuses its cache key and compiled form on every append.
_APPEND = _append()
_ENTRY_KEY = "pk_ledger_entries"


def _entry_values(entry: JournalEntry) -> dict[str, Any]:
    bt = balance_transaction(entry)
    fx = entry.fx
    presentment = entry.presentment
    return {
        "id": entry.id,
        "merchant_id": entry.merchant_id,
        "kind": entry.kind.value,
        "source": entry.source,
        "payment_intent_id": entry.payment_intent_id,
        "reference": entry.reference,
        "presentment_amount": presentment.amount if presentment else None,
        "presentment_currency": presentment.currency if presentment else None,
        "fx_base": fx.base if fx else None,
        "fx_quote": fx.quote if fx else None,
        "fx_rate": fx.rate if fx else None,
        "fx_as_of": fx.as_of if fx else None,
        "fx_source": fx.source if fx else None,
        "available_on": entry.available_on,
        "related_entry_id": entry.related_entry_id,
        "description": entry.description,
        "created": entry.created,
        "livemode": entry.livemode,
        "bt_type": bt.type.value if bt else None,
        "bt_amount": bt.amount if bt else None,
        "bt_fee": bt.fee if bt else None,
        "bt_net": bt.net if bt else None,
        "bt_currency": bt.currency if bt else None,
        "bt_available_on": bt.available_on if bt else None,
    }


def _entry(row: RowMapping, postings: list[Posting]) -> JournalEntry:
    fx = None
    if row["fx_rate"] is not None:
        fx = FxRate(
            row["fx_base"], row["fx_quote"], row["fx_rate"], row["fx_as_of"], row["fx_source"]
        )
    presentment = None
    if row["presentment_amount"] is not None:
        presentment = Money(row["presentment_amount"], row["presentment_currency"])
    return JournalEntry(
        id=row["id"],
        kind=EntryKind(row["kind"]),
        merchant_id=row["merchant_id"],
        source=row["source"],
        postings=tuple(postings),
        created=row["created"],
        payment_intent_id=row["payment_intent_id"],
        presentment=presentment,
        fx=fx,
        available_on=row["available_on"],
        related_entry_id=row["related_entry_id"],
        description=row["description"],
        reference=row["reference"],
        livemode=row["livemode"],
    )


def transaction_of(row: RowMapping) -> BalanceTransaction:
    return BalanceTransaction(
        id=row["id"],
        merchant_id=row["merchant_id"],
        type=BalanceTransactionType(row["bt_type"]),
        amount=row["bt_amount"],
        fee=row["bt_fee"],
        net=row["bt_net"],
        currency=row["bt_currency"],
        source=row["source"],
        available_on=row["bt_available_on"],
        created=row["created"],
        exchange_rate=row["fx_rate"],
        description=row["description"],
        livemode=row["livemode"],
    )


_BALANCES = text(
    """
    SELECT a.account,
           COALESCE(c.balance, 0) + COALESCE((
               SELECT sum(p.amount) FROM ledger_postings p
               WHERE p.account = a.account COLLATE "C" AND p.xid >= COALESCE(c.below_xid, 0)
           ), 0) AS balance
    FROM unnest(CAST(:accounts AS text[])) AS a(account)
    LEFT JOIN LATERAL (
        SELECT below_xid, balance FROM ledger_checkpoints k
        WHERE k.account = a.account COLLATE "C"
        ORDER BY below_xid DESC LIMIT 1
    ) c ON true
    """
)

# A loose index scan over the (account, xid) index: each step jumps to the next account
# code in the merchant's prefix range, so listing a merchant's accounts costs one index
# probe per account, however many postings they have.
_MERCHANT_ACCOUNTS = text(
    """
    WITH RECURSIVE accounts(account) AS (
        (SELECT account FROM ledger_postings
         WHERE account >= :low AND account < :high ORDER BY account LIMIT 1)
        UNION ALL
        SELECT (SELECT p.account FROM ledger_postings p
                WHERE p.account > accounts.account AND p.account < :high
                ORDER BY p.account LIMIT 1)
        FROM accounts WHERE accounts.account IS NOT NULL
    )
    SELECT account FROM accounts WHERE account IS NOT NULL
    """
)

# Test funds keep the key they had before modes; live funds are locked apart.
_LOCK_FUNDS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'funds:' || :merchant || ':' || :currency || :mode, 0))"
)


def _append_params(entry: JournalEntry) -> dict[str, Any]:
    postings = entry.postings
    return _entry_values(entry) | {
        "positions": list(range(len(postings))),
        "accounts": [posting.account.code for posting in postings],
        "currencies": [posting.currency for posting in postings],
        "amounts": [posting.amount for posting in postings],
    }


def _entry_exists(error: IntegrityError, entry: JournalEntry) -> Exception | None:
    if is_unique_violation(error) and constraint_of(error) == _ENTRY_KEY:
        return AlreadyExists(f"Journal entry {entry.id} exists.", reason="ENTRY_EXISTS")
    return None


async def _append_now(connection: Any, entry: JournalEntry) -> None:
    try:
        await connection.execute(_APPEND, _append_params(entry))
    except IntegrityError as error:
        if (exists := _entry_exists(error, entry)) is not None:
            raise exists from error
        raise


class SqlLedger:
    """core.ledger.ports.LedgerRepository over one connection (the unit of work's)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, entry: JournalEntry) -> None:
        if not hold(self._conn, EntryAppended(entry)):
            await _append_now(self._conn, entry)

    async def lock_funds(self, merchant_id: str, currency: str, livemode: bool = False) -> None:
        await self._conn.execute(
            _LOCK_FUNDS,
            {"merchant": merchant_id, "currency": currency, "mode": ":live" if livemode else ""},
        )

    async def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        if not accounts:
            return {}
        by_code = {account.code: account for account in accounts}
        rows = await self._conn.execute(_BALANCES, {"accounts": list(by_code)})
        return {by_code[code]: int(balance) for code, balance in rows}

    async def merchant_accounts(
        self, merchant_id: str, livemode: bool = False
    ) -> dict[Account, int]:
        prefix = Account.merchant_prefix(merchant_id, livemode)
        rows = await self._conn.execute(
            _MERCHANT_ACCOUNTS, {"low": prefix, "high": prefix[:-1] + ";"}
        )
        return await self.balances([Account.parse(code) for (code,) in rows])

    async def entries_where(self, *conditions: Any) -> list[JournalEntry]:
        """Entries matching SQLAlchemy conditions on ledger_entries, oldest first."""
        return await self._entries(*conditions)

    async def _entries(self, *conditions: Any) -> list[JournalEntry]:
        rows = (
            (
                await self._conn.execute(
                    select(ledger_entries).where(*conditions).order_by(ledger_entries.c.id)
                )
            )
            .mappings()
            .all()
        )
        if not rows:
            return []
        postings: dict[str, list[Posting]] = {row["id"]: [] for row in rows}
        found = await self._conn.execute(
            select(ledger_postings.c.entry_id, ledger_postings.c.account, ledger_postings.c.amount)
            .where(ledger_postings.c.entry_id == any_(_text_array("entry_ids", list(postings))))
            .order_by(ledger_postings.c.entry_id, ledger_postings.c.position)
        )
        for entry_id, account, amount in found:
            postings[entry_id].append(Posting(Account.parse(account), amount))
        return [_entry(row, postings[row["id"]]) for row in rows]

    async def get(self, merchant_id: str, entry_id: str) -> JournalEntry | None:
        found = await self._entries(
            ledger_entries.c.id == entry_id, ledger_entries.c.merchant_id == merchant_id
        )
        return found[0] if found else None

    async def entries_for_payment(
        self, merchant_id: str, payment_intent_id: str
    ) -> Sequence[JournalEntry]:
        if not payment_intent_id:
            return []
        return await self._entries(
            ledger_entries.c.merchant_id == merchant_id,
            ledger_entries.c.payment_intent_id == payment_intent_id,
        )

    async def entries_for_source(self, merchant_id: str, source: str) -> Sequence[JournalEntry]:
        return await self._entries(
            ledger_entries.c.merchant_id == merchant_id, ledger_entries.c.source == source
        )

    async def entries_for_reference(
        self, merchant_id: str, reference: str
    ) -> Sequence[JournalEntry]:
        if not reference:
            return []
        return await self._entries(
            ledger_entries.c.merchant_id == merchant_id, ledger_entries.c.reference == reference
        )

    async def entries_created_between(
        self, start: datetime, end: datetime
    ) -> Sequence[JournalEntry]:
        """For reconciliation: every merchant's entries created in [start, end)."""
        return await self._entries(
            ledger_entries.c.created >= start, ledger_entries.c.created < end
        )

    async def balance_transaction(
        self, merchant_id: str, transaction_id: str
    ) -> BalanceTransaction | None:
        row = (
            (
                await self._conn.execute(
                    select(ledger_entries).where(
                        ledger_entries.c.id == transaction_id,
                        ledger_entries.c.merchant_id == merchant_id,
                        ledger_entries.c.bt_type.is_not(None),
                    )
                )
            )
            .mappings()
            .first()
        )
        return transaction_of(row) if row is not None else None

    async def balance_transactions(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> Sequence[BalanceTransaction]:
        query = select(ledger_entries).where(
            ledger_entries.c.merchant_id == merchant_id,
            ledger_entries.c.livemode == livemode,
            ledger_entries.c.bt_type.is_not(None),
        )
        if starting_after is not None:
            query = query.where(ledger_entries.c.id < starting_after)
        if type is not None:
            query = query.where(ledger_entries.c.bt_type == type.value)
        if source is not None:
            query = query.where(ledger_entries.c.source == source)
        rows = await self._conn.execute(query.order_by(ledger_entries.c.id.desc()).limit(limit))
        return [transaction_of(row) for row in rows.mappings()]


# The watermark W and, per account with postings between its last checkpoint and W, a new
# checkpoint = last balance + those postings. Inserted, never updated; two runs at once
# compute correct checkpoints each (a clash on the same W is skipped). Driven by the
# accounts, never by the postings: the accounts are listed by a loose index scan (one
# probe of the (account, xid) index each), and each account's tail is one range of that
# index past its latest checkpoint (one probe of the checkpoints' key), so a run costs
# the accounts plus the new postings, not the books (a scan of every posting every
# minute, at ten million payments).
_TAKE_CHECKPOINTS = text(
    """
    WITH RECURSIVE w AS (
        SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS below
    ), accounts(account) AS (
        (SELECT account FROM ledger_postings ORDER BY account LIMIT 1)
        UNION ALL
        SELECT (SELECT p.account FROM ledger_postings p WHERE p.account > a.account
                ORDER BY p.account LIMIT 1)
        FROM accounts a WHERE a.account IS NOT NULL
    ), tail AS (
        SELECT a.account, l.balance, t.amount, t.postings
        FROM accounts a CROSS JOIN w
        LEFT JOIN LATERAL (
            SELECT below_xid, balance FROM ledger_checkpoints k
            WHERE k.account = a.account ORDER BY below_xid DESC LIMIT 1
        ) l ON true
        CROSS JOIN LATERAL (
            SELECT sum(p.amount) AS amount, count(*) AS postings FROM ledger_postings p
            WHERE p.account = a.account AND p.xid >= COALESCE(l.below_xid, 0)
              AND p.xid < w.below
        ) t
        WHERE a.account IS NOT NULL
    )
    INSERT INTO ledger_checkpoints (account, below_xid, balance, taken_at)
    SELECT t.account, w.below, COALESCE(t.balance, 0) + t.amount, now()
    FROM tail t CROSS JOIN w
    WHERE t.postings >= :min_postings
    ON CONFLICT DO NOTHING
    """
)


async def take_checkpoints(connection: AsyncConnection, *, min_postings: int = 1) -> int:
    """Checkpoints every account with at least `min_postings` final postings past its
    last checkpoint; returns how many were taken. Commit is the caller's."""
    result = await connection.execute(_TAKE_CHECKPOINTS, {"min_postings": min_postings})
    return result.rowcount
