"""PostgreSQL repository of the account context: the business profile (merchants.name
plus merchant_profiles) and the facts of the onboarding checklist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import (
    api_keys,
    merchant_profiles,
    merchants,
    payment_intents,
    webhook_endpoints,
)
from core.account.ports import OnboardingFacts
from core.account.profile import BusinessProfile
from core.payments.model import CaptureMethod

_SETTINGS = (
    "statement_descriptor",
    "support_email",
    "support_url",
    "country",
    "accepted_currencies",
    "default_capture_method",
    "branding_color",
    "logo_url",
    "updated",
)


class SqlBusinessProfiles:
    def __init__(self, connection: Any) -> None:
        self._conn: AsyncConnection = connection

    async def get(self, merchant_id: str) -> BusinessProfile | None:
        p = merchant_profiles.c
        query = (
            select(merchants.c.name, *(p[name] for name in _SETTINGS))
            .select_from(merchants.outerjoin(merchant_profiles, p.merchant_id == merchants.c.id))
            .where(merchants.c.id == merchant_id)
        )
        row = (await self._conn.execute(query)).mappings().first()
        if row is None:
            return None
        if row["updated"] is None:  # never saved: the defaults
            return BusinessProfile(merchant_id=merchant_id, business_name=row["name"])
        return BusinessProfile(
            merchant_id=merchant_id,
            business_name=row["name"],
            statement_descriptor=row["statement_descriptor"],
            support_email=row["support_email"],
            support_url=row["support_url"],
            country=row["country"],
            accepted_currencies=tuple(row["accepted_currencies"]),
            default_capture_method=CaptureMethod(row["default_capture_method"]),
            branding_color=row["branding_color"],
            logo_url=row["logo_url"],
            updated=row["updated"],
        )

    async def save(self, profile: BusinessProfile) -> None:
        await self._conn.execute(
            update(merchants)
            .where(merchants.c.id == profile.merchant_id)
            .values(name=profile.business_name)
        )
        values = {
            "statement_descriptor": profile.statement_descriptor,
            "support_email": profile.support_email,
            "support_url": profile.support_url,
            "country": profile.country,
            "accepted_currencies": list(profile.accepted_currencies),
            "default_capture_method": profile.default_capture_method.value,
            "branding_color": profile.branding_color,
            "logo_url": profile.logo_url,
            "updated": profile.updated,
        }
        statement = pg_insert(merchant_profiles).values(merchant_id=profile.merchant_id, **values)
        await self._conn.execute(
            statement.on_conflict_do_update(index_elements=["merchant_id"], set_=values)
        )

    async def onboarding(self, merchant_id: str) -> OnboardingFacts:
        k, w, i = api_keys.c, webhook_endpoints.c, payment_intents.c
        key = exists().where(and_(k.merchant_id == merchant_id, k.type == "SECRET"))
        endpoint = exists().where(and_(w.merchant_id == merchant_id, w.disabled.is_(False)))
        # The merchant_id, id index finds the merchant's intents; the first paid one ends it.
        paid = exists().where(
            and_(i.merchant_id == merchant_id, i.livemode.is_(False), i.amount_received > 0)
        )
        row = (
            await self._conn.execute(
                select(key.label("key"), endpoint.label("endpoint"), paid.label("paid"))
            )
        ).one()
        return OnboardingFacts(
            api_key_created=bool(row.key),
            webhook_endpoint_set=bool(row.endpoint),
            test_payment_made=bool(row.paid),
        )
