"""How much background work is waiting, for the metrics (the worker counts it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables import webhook_deliveries
from core.events.model import DeliveryStatus


async def webhook_queue(engine: AsyncEngine, now: datetime) -> tuple[int, float]:
    """(PENDING deliveries, seconds the oldest due one has waited past its due time)."""
    pending = webhook_deliveries.c.status == DeliveryStatus.PENDING.value
    query = select(
        func.count(),
        func.min(webhook_deliveries.c.next_attempt_at).filter(
            webhook_deliveries.c.next_attempt_at <= now
        ),
    ).where(pending)
    async with engine.connect() as connection:
        depth, oldest_due = (await connection.execute(query)).one()
    lag = (now - oldest_due).total_seconds() if oldest_due is not None else 0.0
    return int(depth), max(0.0, lag)
