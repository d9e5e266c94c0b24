"""Migration 0022_created_unwatched: an intent's first history line (no from_status)
notifies nobody, even were its intent in watched_intents; every later line of a watched
intent still notifies it, alone or in a statement with first lines; back down, the first
line notifies a watched intent again."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.contract.test_key_changes_migration import engine as engine  # the fixture
from tests.contract.test_ledger_mode_migration import _to
from tests.contract.test_watched_intents_migration import _BEFORE, _EVENT, told

_FIRST = (
    "INSERT INTO payment_events (payment_intent_id, merchant_id, from_status, to_status,"
    " actor, occurred_at) VALUES ('pi_m21', 'acct_m21', NULL, 'REQUIRES_PAYMENT_METHOD',"
    " 'k', now())"
)
_BOTH = (
    "INSERT INTO payment_events (payment_intent_id, merchant_id, from_status, to_status,"
    " actor, occurred_at) VALUES ('pi_m21', 'acct_m21', NULL, 'REQUIRES_PAYMENT_METHOD',"
    " 'k', now()), ('pi_m21', 'acct_m21', 'REQUIRES_PAYMENT_METHOD', 'CANCELED', 'k', now())"
)


async def test_up_tells_nobody_of_a_first_line_and_down_tells_the_watcher_again(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, url = engine
    await _to(db, "0021_watched_intents")
    assert await told(db, url, _BEFORE) == []
    async with db.begin() as connection:
        await connection.execute(
            text("INSERT INTO watched_intents VALUES ('pi_m21', pg_backend_pid(), now())")
        )
    assert await told(db, url, _FIRST) == ["pi_m21"]  # before 0022: watched, told

    await _to(db, "0022_created_unwatched")
    assert await told(db, url, _FIRST) == []
    assert await told(db, url, _EVENT) == ["pi_m21"]
    assert await told(db, url, _BOTH) == ["pi_m21"]

    await _to(db, "0021_watched_intents", down=True)
    assert await told(db, url, _FIRST) == ["pi_m21"]
    await _to(db, "head")
    assert await told(db, url, _FIRST) == []
