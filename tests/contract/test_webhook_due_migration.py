"""Migration 0020_webhook_due: a delivery that may be due now is told at its commit (new,
sent again, released with a retry, its endpoint enabled again), a leased or finished one
is not; back down, triggers and function gone. And the worker's feed
(PostgresDeliveryWakeups) wakes its follower for a committed delivery."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.webhook_due import PostgresDeliveryWakeups
from tests.contract.test_key_changes_contract import eventually
from tests.contract.test_key_changes_migration import _told
from tests.contract.test_key_changes_migration import engine as engine  # the fixture
from tests.contract.test_ledger_mode_migration import _rows, _to

_BEFORE = """
INSERT INTO merchants (id, name, created) VALUES ('acct_m20', 'Migrated', now());
INSERT INTO events (id, merchant_id, type, created, livemode, data)
VALUES ('evt_m20', 'acct_m20', 'payment_intent.created', now(), false, '{}');
INSERT INTO webhook_endpoints (id, merchant_id, url, enabled_events, livemode, secret, created)
VALUES ('we_m20', 'acct_m20', 'https://example.com/hooks', '{*}', false, '\\x00', now())
"""
_TRIGGERS = (
    "SELECT count(*) FROM pg_trigger"
    " WHERE tgname LIKE 'webhook_deliveries_notify%' OR tgname LIKE 'webhook_endpoints_notify%'"
)
_FUNCTION = "SELECT count(*) FROM pg_proc WHERE proname = 'paygate_notify_webhook_delivery_due'"


def _delivery(n: int) -> str:
    return (
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, merchant_id, status,"
        f" created, next_attempt_at) VALUES ('whd_m20_{n}', 'evt_m20', 'we_m20', 'acct_m20',"
        " 'PENDING', now(), now())"
    )


_LEASE = "UPDATE webhook_deliveries SET lease_until = now() + interval '30 s', lease_token = 't'"
_RETRY_LATER = (
    "UPDATE webhook_deliveries SET lease_until = NULL, lease_token = '',"
    " next_attempt_at = now() + interval '5 s'"
)
_SUCCEED = "UPDATE webhook_deliveries SET status = 'SUCCEEDED', next_attempt_at = NULL"
_SEND_AGAIN = "UPDATE webhook_deliveries SET status = 'PENDING', next_attempt_at = now()"


async def told(db: AsyncEngine, url: str, statement: str) -> list[str]:
    return await _told(db, url, statement, channel="webhook_delivery_due")


async def seeded(db: AsyncEngine, revision: str) -> None:
    """The database at `revision`, with a merchant, an event and an endpoint."""
    await _to(db, revision)
    async with db.begin() as connection:
        for statement in _BEFORE.split(";"):
            await connection.execute(text(statement))


async def test_up_tells_deliveries_that_may_be_due_and_down_removes_it(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, url = engine
    await seeded(db, "0019_api_key_changes")
    assert await told(db, url, _delivery(1)) == []  # before 0020: nothing

    await _to(db, "0020_webhook_due")
    assert await _rows(db, _TRIGGERS) == [(3,)]
    # Two deliveries in one transaction: one notification.
    assert await told(db, url, f"{_delivery(2)}; {_delivery(3)}") == [""]
    assert await told(db, url, _LEASE) == []  # claimed: nobody else can take it
    assert await told(db, url, _RETRY_LATER) == [""]  # released: a retry is scheduled
    assert await told(db, url, _SUCCEED) == []
    assert await told(db, url, _SEND_AGAIN) == [""]  # RetryWebhookDelivery, a replay
    assert await told(db, url, "UPDATE webhook_endpoints SET disabled = true") == []
    assert await told(db, url, "UPDATE webhook_endpoints SET disabled = false") == [""]
    assert await told(db, url, "UPDATE webhook_endpoints SET description = 'x'") == []

    await _to(db, "0019_api_key_changes", down=True)
    assert await _rows(db, _TRIGGERS) == [(0,)]
    assert await _rows(db, _FUNCTION) == [(0,)]
    assert await told(db, url, _delivery(4)) == []
    await _to(db, "head")
    assert await told(db, url, _delivery(5)) == [""]


async def test_the_workers_feed_wakes_it_for_a_committed_delivery(
    engine: tuple[AsyncEngine, str],
) -> None:
    db, url = engine
    await seeded(db, "head")
    woken: list[None] = []
    wakeups = PostgresDeliveryWakeups(url)
    wakeups.follow(lambda: woken.append(None))
    await wakeups.start()
    try:
        assert wakeups.listening
        assert await eventually(lambda: len(woken) == 1)  # it began to listen: claim once
        async with db.connect() as connection:
            await connection.execute(text(_delivery(1)))
            await connection.rollback()  # never committed: never told
        async with db.begin() as connection:
            await connection.execute(text(_delivery(2)))
        async with db.begin() as connection:
            await connection.execute(text(_LEASE))  # claimed: not told
        async with db.begin() as connection:
            await connection.execute(text(_RETRY_LATER))
        # Notifications arrive in commit order: by the time the last one's has, any that
        # the rollback or the lease sent would have too.
        assert await eventually(lambda: len(woken) >= 3)
        assert len(woken) == 3
    finally:
        await wakeups.aclose()
    assert not wakeups.listening
