"""The ledger on PostgreSQL: append-only entries and postings, balances from checkpoints.

docs/ledger.md ("Balances without a hot row", "Persistence") is the design; in short:

- `append` inserts the entry (with its balance transaction), its postings in one
  statement (a statement trigger checks they balance per currency) and, when it has a
  balance transaction, a row of the unsettled queue. Nothing is ever updated, so two
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

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    RowMapping,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text

from adapters.sql.tables import (
    dispute_evidence,
    disputes,
    fx_rates,
    ledger_entries,
    ledger_postings,
    ledger_unsettled,
    merchant_terms,
    payouts,
    settlement_lines,
    settlements,
)
from core.ledger.accounts import Account, AccountKind
from core.ledger.fees import FeeRule, Pricing
from core.ledger.fx import FxRate, RateTable
from core.ledger.model import (
    BalanceTransaction,
    BalanceTransactionType,
    EntryKind,
    JournalEntry,
    MerchantTerms,
    PayoutSchedule,
    Posting,
)
from core.ledger.projections import balance_transaction
from core.ledger.records import (
    OPEN_DISPUTE_STATUSES,
    AutomaticPayout,
    Dispute,
    DisputeEvidence,
    DisputeStatus,
    DueTransaction,
    Payout,
    PayoutMethod,
    PayoutStatus,
    Settlement,
    SettlementStatus,
    SettlementTotals,
)
from core.shared.errors import AlreadyExists, FailedPrecondition
from core.shared.money import Money

_UNIQUE_VIOLATION = "23505"


def _text_array(name: str, values: list[str]) -> Any:
    """A list as one text[] parameter (= ANY(...)), whatever its length: an expanding IN
    sends one parameter per value, and asyncpg takes at most 32767."""
    return bindparam(name, values, type_=ARRAY(Text))


# --- entries and balances ---------------------------------------------------------------


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
    )


def _transaction(row: RowMapping) -> BalanceTransaction:
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

_LOCK_FUNDS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('funds:' || :merchant || ':' || :currency, 0))"
)


class SqlLedger:
    """core.ledger.ports.LedgerRepository over one connection (the unit of work's)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def append(self, entry: JournalEntry) -> None:
        values = _entry_values(entry)
        try:
            await self._conn.execute(insert(ledger_entries).values(values))
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise AlreadyExists(
                    f"Journal entry {entry.id} exists.", reason="ENTRY_EXISTS"
                ) from error
            raise
        await self._conn.execute(
            insert(ledger_postings).values(
                [
                    {
                        "entry_id": entry.id,
                        "position": position,
                        "account": posting.account.code,
                        "merchant_id": entry.merchant_id,
                        "currency": posting.currency,
                        "amount": posting.amount,
                        "created": entry.created,
                    }
                    for position, posting in enumerate(entry.postings)
                ]
            )
        )
        if values["bt_type"] is not None:
            await self._conn.execute(
                insert(ledger_unsettled).values(
                    transaction_id=entry.id,
                    merchant_id=entry.merchant_id,
                    currency=values["bt_currency"],
                    available_on=values["bt_available_on"],
                )
            )

    async def lock_funds(self, merchant_id: str, currency: str) -> None:
        await self._conn.execute(_LOCK_FUNDS, {"merchant": merchant_id, "currency": currency})

    async def balances(self, accounts: Sequence[Account]) -> dict[Account, int]:
        if not accounts:
            return {}
        by_code = {account.code: account for account in accounts}
        rows = await self._conn.execute(_BALANCES, {"accounts": list(by_code)})
        return {by_code[code]: int(balance) for code, balance in rows}

    async def merchant_accounts(self, merchant_id: str) -> dict[Account, int]:
        prefix = f"merchant:{merchant_id}:"
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
        return _transaction(row) if row is not None else None

    async def balance_transactions(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        type: BalanceTransactionType | None = None,
        source: str | None = None,
    ) -> Sequence[BalanceTransaction]:
        query = select(ledger_entries).where(
            ledger_entries.c.merchant_id == merchant_id, ledger_entries.c.bt_type.is_not(None)
        )
        if starting_after is not None:
            query = query.where(ledger_entries.c.id < starting_after)
        if type is not None:
            query = query.where(ledger_entries.c.bt_type == type.value)
        if source is not None:
            query = query.where(ledger_entries.c.source == source)
        rows = await self._conn.execute(query.order_by(ledger_entries.c.id.desc()).limit(limit))
        return [_transaction(row) for row in rows.mappings()]


# The watermark W and, per account with postings between its last checkpoint and W, a new
# checkpoint = last balance + those postings. Inserted, never updated; two runs at once
# compute correct checkpoints each (a clash on the same W is skipped).
_TAKE_CHECKPOINTS = text(
    """
    WITH w AS (
        SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS below
    ), last AS (
        SELECT DISTINCT ON (account) account, below_xid, balance
        FROM ledger_checkpoints ORDER BY account, below_xid DESC
    ), tail AS (
        SELECT p.account, sum(p.amount) AS amount, count(*) AS postings
        FROM ledger_postings p CROSS JOIN w
        LEFT JOIN last l ON l.account = p.account
        WHERE p.xid >= COALESCE(l.below_xid, 0) AND p.xid < w.below
        GROUP BY p.account
    )
    INSERT INTO ledger_checkpoints (account, below_xid, balance, taken_at)
    SELECT t.account, w.below, COALESCE(l.balance, 0) + t.amount, now()
    FROM tail t CROSS JOIN w LEFT JOIN last l ON l.account = t.account
    WHERE t.postings >= :min_postings
    ON CONFLICT DO NOTHING
    """
)


async def take_checkpoints(connection: AsyncConnection, *, min_postings: int = 1) -> int:
    """Checkpoints every account with at least `min_postings` final postings past its
    last checkpoint; returns how many were taken. Commit is the caller's."""
    result = await connection.execute(_TAKE_CHECKPOINTS, {"min_postings": min_postings})
    return result.rowcount


# --- FX rates and merchant terms -------------------------------------------------------


class SqlFxRates:
    """FxRateStore over the fx_rates table: the newest rate at or before the time asked,
    else the inverse of the reverse pair (core.ledger.fx.RateTable decides, as in memory)."""

    def __init__(self, connection: AsyncConnection, *, max_age: timedelta | None = None) -> None:
        self._conn = connection
        self._max_age = max_age

    async def rate(self, base: str, quote: str, *, at: datetime) -> FxRate:
        def newest(b: str, q: str) -> Any:
            return (
                select(
                    fx_rates.c.base,
                    fx_rates.c.quote,
                    fx_rates.c.rate,
                    fx_rates.c.as_of,
                    fx_rates.c.source,
                )
                .where(fx_rates.c.base == b, fx_rates.c.quote == q, fx_rates.c.as_of <= at)
                .order_by(fx_rates.c.as_of.desc())
                .limit(1)
            )

        query = (
            newest(base, quote)
            .subquery()
            .select()
            .union_all(newest(quote, base).subquery().select())
        )
        rows = await self._conn.execute(query)
        rates = [FxRate(b, q, rate, as_of, source) for b, q, rate, as_of, source in rows]
        return RateTable(rates, max_age=self._max_age).rate(base, quote, at=at)

    async def add(self, rates: Sequence[FxRate]) -> int:
        if not rates:
            return 0
        keys = [(r.base, r.quote, r.as_of) for r in rates]
        stored = await self._conn.execute(
            select(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.as_of, fx_rates.c.rate).where(
                tuple_(fx_rates.c.base, fx_rates.c.quote, fx_rates.c.as_of).in_(keys)
            )
        )
        known = {(b, q, t): rate for b, q, t, rate in stored}
        for rate in rates:
            old = known.get((rate.base, rate.quote, rate.as_of))
            if old is not None and old != rate.rate:
                raise FailedPrecondition(
                    f"{rate.base}->{rate.quote} as of {rate.as_of.isoformat()} is stored as "
                    f"{old}, not {rate.rate}: publish a correction with a new as_of.",
                    reason="FX_RATE_CONFLICT",
                )
        result = await self._conn.execute(
            pg_insert(fx_rates)
            .values(
                [
                    {
                        "base": r.base,
                        "quote": r.quote,
                        "as_of": r.as_of,
                        "rate": r.rate,
                        "source": r.source,
                    }
                    for r in rates
                ]
            )
            .on_conflict_do_nothing()
            .returning(fx_rates.c.base)
        )
        return len(result.all())


def pricing_to_json(pricing: Pricing) -> dict[str, Any]:
    def rule(r: FeeRule) -> dict[str, Any]:
        return {"percent": str(r.percent), "fixed": r.fixed}

    return {
        "default": rule(pricing.default),
        "by_currency": {c: rule(r) for c, r in pricing.by_currency.items()},
        "by_currency_and_method": [
            {"currency": c, "method": m, **rule(r)}
            for (c, m), r in pricing.by_currency_and_method.items()
        ],
        "refund_fees": pricing.refund_fees,
        "dispute_fee": pricing.dispute_fee,
        "dispute_fee_by_currency": dict(pricing.dispute_fee_by_currency),
        "refund_dispute_fee_on_win": pricing.refund_dispute_fee_on_win,
    }


def pricing_from_json(data: dict[str, Any]) -> Pricing:
    def rule(r: dict[str, Any]) -> FeeRule:
        return FeeRule(Decimal(r["percent"]), int(r["fixed"]))

    return Pricing(
        default=rule(data["default"]),
        by_currency={c: rule(r) for c, r in data.get("by_currency", {}).items()},
        by_currency_and_method={
            (r["currency"], r["method"]): rule(r) for r in data.get("by_currency_and_method", [])
        },
        refund_fees=bool(data.get("refund_fees", False)),
        dispute_fee=int(data.get("dispute_fee", 1500)),
        dispute_fee_by_currency={
            c: int(v) for c, v in data.get("dispute_fee_by_currency", {}).items()
        },
        refund_dispute_fee_on_win=bool(data.get("refund_dispute_fee_on_win", False)),
    )


class SqlMerchantTerms:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def get(self, merchant_id: str) -> MerchantTerms:
        row = (
            (
                await self._conn.execute(
                    select(merchant_terms).where(merchant_terms.c.merchant_id == merchant_id)
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return MerchantTerms()
        return MerchantTerms(
            settlement_currency=row["settlement_currency"],
            settlement_delay_days=row["settlement_delay_days"],
            pricing=pricing_from_json(row["pricing"]),
            payout_schedule=PayoutSchedule(row["payout_schedule"]),
            payout_minimum=row["payout_minimum"],
        )

    async def put(self, merchant_id: str, terms: MerchantTerms) -> None:
        values = {
            "settlement_currency": terms.settlement_currency,
            "settlement_delay_days": terms.settlement_delay_days,
            "payout_schedule": terms.payout_schedule.value,
            "payout_minimum": terms.payout_minimum,
            "pricing": json.loads(json.dumps(pricing_to_json(terms.pricing))),
        }
        await self._conn.execute(
            pg_insert(merchant_terms)
            .values(merchant_id=merchant_id, **values)
            .on_conflict_do_update(
                index_elements=[merchant_terms.c.merchant_id],
                set_={**values, "updated_at": func.now()},
            )
        )


# --- settlements -----------------------------------------------------------------------


def _settlement(row: RowMapping) -> Settlement:
    return Settlement(
        id=row["id"],
        merchant_id=row["merchant_id"],
        currency=row["currency"],
        day=row["day"],
        cutoff=row["cutoff"],
        created=row["created"],
        status=SettlementStatus(row["status"]),
        completed_at=row["completed_at"],
        totals=SettlementTotals(
            count=row["transaction_count"],
            amount=row["amount"],
            fee=row["fee"],
            net=row["net"],
        ),
        released=row["released"],
        fees_swept=row["fees_swept"],
        automatic_payout=AutomaticPayout(row["automatic_payout"]),
        payout_id=row["payout_id"],
    )


def _line(row: RowMapping) -> BalanceTransaction:
    return BalanceTransaction(
        id=row["transaction_id"],
        merchant_id=row["merchant_id"],
        type=BalanceTransactionType(row["type"]),
        amount=row["amount"],
        fee=row["fee"],
        net=row["net"],
        currency=row["currency"],
        source=row["source"],
        available_on=row["available_on"],
        created=row["created"],
        exchange_rate=row["exchange_rate"],
        description=row["description"],
    )


class SqlSettlements:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def due_accounts(self, cutoff: datetime) -> Sequence[tuple[str, str]]:
        u = ledger_unsettled.c
        rows = await self._conn.execute(
            select(u.merchant_id, u.currency)
            .where(u.available_on <= cutoff)
            .distinct()
            .order_by(u.merchant_id, u.currency)
        )
        return [(merchant_id, currency) for merchant_id, currency in rows]

    async def add(self, settlement: Settlement) -> bool:
        result = await self._conn.execute(
            pg_insert(settlements)
            .values(
                id=settlement.id,
                merchant_id=settlement.merchant_id,
                currency=settlement.currency,
                day=settlement.day,
                cutoff=settlement.cutoff,
                status=settlement.status.value,
                created=settlement.created,
                automatic_payout=settlement.automatic_payout.value,
            )
            .on_conflict_do_nothing(index_elements=["merchant_id", "currency", "day"])
            .returning(settlements.c.id)
        )
        return result.first() is not None

    async def _one(self, query: Any) -> Settlement | None:
        row = (await self._conn.execute(query)).mappings().first()
        return _settlement(row) if row is not None else None

    async def claim(self, day: date) -> Settlement | None:
        return await self._one(
            select(settlements)
            .where(settlements.c.day == day, settlements.c.status == SettlementStatus.PENDING.value)
            .order_by(settlements.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def take_due(
        self, merchant_id: str, currency: str, cutoff: datetime
    ) -> Sequence[DueTransaction]:
        u = ledger_unsettled.c
        # One statement: the queue rows are deleted and their entries read together.
        taken = (
            delete(ledger_unsettled)
            .where(u.merchant_id == merchant_id, u.currency == currency, u.available_on <= cutoff)
            .returning(u.transaction_id)
            .cte("taken")
        )
        pending = Account.merchant(merchant_id, AccountKind.PENDING, currency)
        p = ledger_postings.c
        on_pending = (
            select(func.coalesce(func.sum(p.amount), 0))
            .where(p.entry_id == ledger_entries.c.id, p.account == pending.code)
            .scalar_subquery()
            .label("pending_raw")
        )
        rows = await self._conn.execute(
            select(ledger_entries, on_pending)
            .join(taken, taken.c.transaction_id == ledger_entries.c.id)
            .order_by(ledger_entries.c.id)
        )
        return [
            DueTransaction(_transaction(row), pending.normal_balance(int(row["pending_raw"])))
            for row in rows.mappings()
        ]

    async def complete(self, settlement: Settlement, lines: Sequence[BalanceTransaction]) -> None:
        if lines:
            # A list of parameter sets: SQLAlchemy batches the VALUES under asyncpg's
            # 32767-parameter limit, however many lines a settlement has.
            await self._conn.execute(
                insert(settlement_lines),
                [
                    {
                        "transaction_id": t.id,
                        "settlement_id": settlement.id,
                        "merchant_id": t.merchant_id,
                        "type": t.type.value,
                        "source": t.source,
                        "currency": t.currency,
                        "amount": t.amount,
                        "fee": t.fee,
                        "net": t.net,
                        "exchange_rate": t.exchange_rate,
                        "created": t.created,
                        "available_on": t.available_on,
                        "description": t.description,
                    }
                    for t in lines
                ],
            )
        totals = settlement.totals
        await self._conn.execute(
            update(settlements)
            .where(settlements.c.id == settlement.id)
            .values(
                status=settlement.status.value,
                completed_at=settlement.completed_at,
                transaction_count=totals.count,
                amount=totals.amount,
                fee=totals.fee,
                net=totals.net,
                released=settlement.released,
                fees_swept=settlement.fees_swept,
                automatic_payout=settlement.automatic_payout.value,
                payout_id=settlement.payout_id,
            )
        )

    async def get(self, merchant_id: str, settlement_id: str) -> Settlement | None:
        return await self._one(
            select(settlements).where(
                settlements.c.id == settlement_id, settlements.c.merchant_id == merchant_id
            )
        )

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[Settlement]:
        query = select(settlements).where(settlements.c.merchant_id == merchant_id)
        if starting_after is not None:
            query = query.where(settlements.c.id < starting_after)
        rows = await self._conn.execute(query.order_by(settlements.c.id.desc()).limit(limit))
        return [_settlement(row) for row in rows.mappings()]

    async def lines(self, merchant_id: str, settlement_id: str) -> Sequence[BalanceTransaction]:
        rows = await self._conn.execute(
            select(settlement_lines)
            .where(
                settlement_lines.c.settlement_id == settlement_id,
                settlement_lines.c.merchant_id == merchant_id,
            )
            .order_by(settlement_lines.c.transaction_id)
        )
        return [_line(row) for row in rows.mappings()]

    async def claim_payout(self) -> Settlement | None:
        return await self._one(
            select(settlements)
            .where(
                settlements.c.automatic_payout == AutomaticPayout.DUE.value,
                settlements.c.status == SettlementStatus.COMPLETED.value,
            )
            .order_by(settlements.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def set_payout(
        self, settlement_id: str, state: AutomaticPayout, payout_id: str = ""
    ) -> None:
        await self._conn.execute(
            update(settlements)
            .where(settlements.c.id == settlement_id)
            .values(automatic_payout=state.value, payout_id=payout_id)
        )


# --- payouts ---------------------------------------------------------------------------


def _payout(row: RowMapping) -> Payout:
    return Payout(
        id=row["id"],
        merchant_id=row["merchant_id"],
        amount=row["amount"],
        currency=row["currency"],
        status=PayoutStatus(row["status"]),
        method=PayoutMethod(row["method"]),
        created=row["created"],
        arrival_date=row["arrival_date"],
        balance_transaction_id=row["balance_transaction_id"],
        settlement_id=row["settlement_id"],
        description=row["description"],
    )


class SqlPayouts:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, payout: Payout) -> None:
        try:
            await self._conn.execute(
                insert(payouts).values(
                    id=payout.id,
                    merchant_id=payout.merchant_id,
                    amount=payout.amount,
                    currency=payout.currency,
                    status=payout.status.value,
                    method=payout.method.value,
                    created=payout.created,
                    arrival_date=payout.arrival_date,
                    balance_transaction_id=payout.balance_transaction_id,
                    settlement_id=payout.settlement_id,
                    description=payout.description,
                )
            )
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise AlreadyExists(f"Payout {payout.id} exists.") from error
            raise

    async def get(self, merchant_id: str, payout_id: str) -> Payout | None:
        row = (
            (
                await self._conn.execute(
                    select(payouts).where(
                        payouts.c.id == payout_id, payouts.c.merchant_id == merchant_id
                    )
                )
            )
            .mappings()
            .first()
        )
        return _payout(row) if row is not None else None

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: PayoutStatus | None = None,
    ) -> Sequence[Payout]:
        query = select(payouts).where(payouts.c.merchant_id == merchant_id)
        if starting_after is not None:
            query = query.where(payouts.c.id < starting_after)
        if status is not None:
            query = query.where(payouts.c.status == status.value)
        rows = await self._conn.execute(query.order_by(payouts.c.id.desc()).limit(limit))
        return [_payout(row) for row in rows.mappings()]

    async def mark_arrived(self, now: datetime) -> Sequence[Payout]:
        result = await self._conn.execute(
            update(payouts)
            .where(payouts.c.status == PayoutStatus.IN_TRANSIT.value, payouts.c.arrival_date <= now)
            .values(status=PayoutStatus.PAID.value, updated_at=func.now())
            .returning(*payouts.c)
        )
        return [_payout(row) for row in result.mappings()]


# --- disputes --------------------------------------------------------------------------

_LATEST_EVIDENCE = (
    select(dispute_evidence.c.evidence)
    .where(dispute_evidence.c.dispute_id == disputes.c.id)
    .order_by(dispute_evidence.c.id.desc())
    .limit(1)
    .correlate(disputes)
    .scalar_subquery()
    .label("evidence")
)


def _dispute(row: RowMapping) -> Dispute:
    evidence = row["evidence"]
    return Dispute(
        id=row["id"],
        merchant_id=row["merchant_id"],
        payment_intent_id=row["payment_intent_id"],
        amount=row["amount"],
        currency=row["currency"],
        reason=row["reason"],
        status=DisputeStatus(row["status"]),
        created=row["created"],
        evidence_due_by=row["evidence_due_by"],
        decide_at=row["decide_at"],
        acquirer_reference=row["acquirer_reference"],
        capture_reference=row["capture_reference"],
        evidence=DisputeEvidence(**evidence) if evidence is not None else None,
        evidence_submitted_at=row["evidence_submitted_at"],
        closed_at=row["closed_at"],
        balance_transactions=tuple(row["balance_transactions"]),
    )


_DISPUTE_COLUMNS = [c for c in disputes.c if c.name != "updated_at"]


class SqlDisputes:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def add(self, dispute: Dispute) -> bool:
        result = await self._conn.execute(
            pg_insert(disputes)
            .values(
                id=dispute.id,
                merchant_id=dispute.merchant_id,
                payment_intent_id=dispute.payment_intent_id,
                amount=dispute.amount,
                currency=dispute.currency,
                reason=dispute.reason,
                status=dispute.status.value,
                created=dispute.created,
                evidence_due_by=dispute.evidence_due_by,
                decide_at=dispute.decide_at,
                acquirer_reference=dispute.acquirer_reference,
                capture_reference=dispute.capture_reference,
                evidence_submitted_at=dispute.evidence_submitted_at,
                closed_at=dispute.closed_at,
                balance_transactions=list(dispute.balance_transactions),
            )
            .on_conflict_do_nothing(index_elements=["acquirer_reference"])
            .returning(disputes.c.id)
        )
        return result.first() is not None

    async def _one(self, query: Any) -> Dispute | None:
        row = (await self._conn.execute(query)).mappings().first()
        return _dispute(row) if row is not None else None

    def _select(self) -> Any:
        return select(*_DISPUTE_COLUMNS, _LATEST_EVIDENCE)

    async def get(
        self, merchant_id: str, dispute_id: str, *, for_update: bool = False
    ) -> Dispute | None:
        query = self._select().where(
            disputes.c.id == dispute_id, disputes.c.merchant_id == merchant_id
        )
        if for_update:
            query = query.with_for_update(of=disputes)
        return await self._one(query)

    async def by_acquirer_reference(self, merchant_id: str, reference: str) -> Dispute | None:
        return await self._one(
            self._select().where(
                disputes.c.acquirer_reference == reference, disputes.c.merchant_id == merchant_id
            )
        )

    async def list(
        self, merchant_id: str, *, limit: int, starting_after: str | None = None
    ) -> Sequence[Dispute]:
        query = self._select().where(disputes.c.merchant_id == merchant_id)
        if starting_after is not None:
            query = query.where(disputes.c.id < starting_after)
        rows = await self._conn.execute(query.order_by(disputes.c.id.desc()).limit(limit))
        return [_dispute(row) for row in rows.mappings()]

    async def update(self, dispute: Dispute) -> None:
        await self._conn.execute(
            update(disputes)
            .where(disputes.c.id == dispute.id)
            .values(
                status=dispute.status.value,
                decide_at=dispute.decide_at,
                evidence_submitted_at=dispute.evidence_submitted_at,
                closed_at=dispute.closed_at,
                balance_transactions=list(dispute.balance_transactions),
                updated_at=func.now(),
            )
        )

    async def add_evidence(
        self, merchant_id: str, dispute_id: str, evidence: DisputeEvidence, at: datetime
    ) -> None:
        await self._conn.execute(
            insert(dispute_evidence).values(
                dispute_id=dispute_id,
                merchant_id=merchant_id,
                submitted_at=at,
                evidence=evidence.as_dict(),
            )
        )

    async def claim_due(self, now: datetime) -> Dispute | None:
        return await self._one(
            self._select()
            .where(
                disputes.c.status.in_([s.value for s in OPEN_DISPUTE_STATUSES]),
                disputes.c.decide_at <= now,
            )
            .order_by(disputes.c.decide_at, disputes.c.id)
            .limit(1)
            .with_for_update(of=disputes, skip_locked=True)
        )
