"""The webhook check of tests/faults/once.py on rows written by hand: it is about the events
there were when nothing was in flight.

The crash runs on two of every process failed in run 18 of seed 20261206 with an event
whose delivery was PENDING and had never arrived, right after the books had stood still
(no delivery pending). Only a merchant's replay sets a delivery back to PENDING, so the
event was made while the checks ran (they take seconds: a Lookup of every attempt at the
acquirer), by a worker's job (the dispute feed, an expiry). That event is the next check's.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql import tables
from adapters.sql.engine import create_engine
from tests.databases import fresh_database
from tests.faults import once

NOW = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
ENDPOINT = "we_once"


async def made(connection: AsyncConnection, event_id: str, status: str) -> None:
    """An event and its delivery to the endpoint, written together as the outbox does."""
    await connection.execute(
        insert(tables.events).values(
            id=event_id,
            merchant_id="acct_once",
            type="charge.dispute.created",
            created=NOW,
            livemode=False,
            data={},
        )
    )
    await connection.execute(
        insert(tables.webhook_deliveries).values(
            id=f"whd_{event_id}",
            event_id=event_id,
            endpoint_id=ENDPOINT,
            merchant_id="acct_once",
            status=status,
            created=NOW,
        )
    )


async def test_an_event_made_while_the_checks_run_is_the_next_checks(
    postgres_admin_url: str,
) -> None:
    # A database of its own: the check reads every intent and delivery there is, and the
    # session's database holds other tests' flows in flight.
    async with fresh_database(postgres_admin_url, "paygate_once") as url:
        await _check(url)


async def _check(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            conn = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(
                insert(tables.merchants).values(id="acct_once", name="Once", created=NOW)
            )
            await conn.execute(
                insert(tables.webhook_endpoints).values(
                    id=ENDPOINT,
                    merchant_id="acct_once",
                    url="http://127.0.0.1:9/hooks",
                    enabled_events=["*"],
                    livemode=False,
                    secret=b"sealed",
                    created=NOW,
                )
            )
            await made(conn, "evt_before", "SUCCEEDED")
            settled = once.Settled(conn)
            assert await settled()
            assert settled.events == {"evt_before"}

            await made(conn, "evt_during", "PENDING")  # the dispute feed, mid-check
            arrivals = Counter({"evt_before": 1})
            counted: Counter[str] = Counter()
            problems = await once.webhooks(
                conn, ENDPOINT, arrivals, counted, may_repeat=None, events=settled.events
            )
            assert problems == []
            assert counted["webhook events"] == 1
            assert counted["webhook events made after the snapshot"] == 1

            # Not settled while its delivery is to be made; once made, the next check is
            # about it, and an arrival missing is still found.
            assert not await settled()
            assert settled.events == {"evt_before"}
            await conn.execute(
                update(tables.webhook_deliveries)
                .where(tables.webhook_deliveries.c.event_id == "evt_during")
                .values(status="SUCCEEDED")
            )
            assert await settled()
            problems = await once.webhooks(
                conn, ENDPOINT, arrivals, counted, may_repeat=None, events=settled.events
            )
            assert problems == ["event evt_during (charge.dispute.created) never arrived"]
    finally:
        await engine.dispose()
