"""Migration 0021_watched_intents: before it every intent's change is told; after it only
a watched intent's (a row in the UNLOGGED watched_intents), and a writer that is not READ
COMMITTED tells every intent; back down, every intent is told again and the table is
gone."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.contract.test_key_changes_migration import _told
from tests.contract.test_key_changes_migration import engine as engine  # the fixture
from tests.contract.test_ledger_mode_migration import _rows, _to

_BEFORE = """
INSERT INTO merchants (id, name, created) VALUES ('acct_m21', 'Migrated', now());
INSERT INTO payment_intents (id, merchant_id, amount, currency, status, capture_method,
    client_secret, livemode, created, payment_method_types)
VALUES ('pi_m21', 'acct_m21', 1000, 'USD', 'REQUIRES_PAYMENT_METHOD', 'AUTOMATIC', 's',
        false, now(), '{card}')
"""
_EVENT = (
    "INSERT INTO payment_events (payment_intent_id, merchant_id, from_status, to_status,"
    " actor, occurred_at) VALUES ('pi_m21', 'acct_m21', 'REQUIRES_PAYMENT_METHOD',"
    " 'REQUIRES_PAYMENT_METHOD', 'k', now())"
)
_TABLE = "SELECT relpersistence::text FROM pg_class WHERE relname = 'watched_intents'"


async def told(db: AsyncEngine, url: str, statement: str) -> list[str]:
    return await _told(db, url, statement, channel="payment_intent_changed")


async def test_up_tells_only_watched_intents_and_down_tells_all_again(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, url = engine
    await _to(db, "0020_webhook_due")
    assert await told(db, url, _BEFORE) == []  # a merchant and an intent, no event yet
    assert await told(db, url, _EVENT) == ["pi_m21"]  # before 0021: every intent

    await _to(db, "0021_watched_intents")
    assert await _rows(db, _TABLE) == [("u",)]  # UNLOGGED
    assert await told(db, url, _EVENT) == []  # nobody watches it
    assert await told(db, url, f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; {_EVENT}") == [
        "pi_m21"
    ]
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO watched_intents VALUES ('pi_m21', pg_backend_pid(), now())")
        )
    assert await told(db, url, f"{_EVENT}; {_EVENT}") == ["pi_m21"]  # one per transaction

    await _to(db, "0020_webhook_due", down=True)
    assert await _rows(db, _TABLE) == []
    assert await told(db, url, _EVENT) == ["pi_m21"]
    await _to(db, "head")
    assert await told(db, url, _EVENT) == []
