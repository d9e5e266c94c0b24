"""No password, token or secret API key in clear anywhere in the database.

A publishable key is public by design (every checkout page carries it) and is kept whole
in api_keys.publishable_key for the hosted checkout, there and nowhere else.

Drives every access flow that handles a secret through the real adapters (argon2id at
production cost, EdDSA JWTs, PostgreSQL), then reads every row of every table as text
and looks for each secret, in clear and hex-encoded (how bytea renders).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.auth.passwords import Argon2Hasher
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import KeyType, Principal
from core.access.roles import Role
from core.shared.secret import Secret
from servers.bootstrap.app import assemble
from servers.runtime.settings import Settings
from tests.fakes import token_codec
from tests.fakes.card_vault import MemoryCardVault

PASSWORD = "Tr0ub4dor&3 is not enough"


async def test_no_table_holds_a_secret_in_clear(
    uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, ids: RandomIds
) -> None:
    clock = SystemClock()
    limiter = LimitsRateLimiter("memory://")
    app = assemble(
        Settings(), uow_factory, RandomIds(), clock, card_vault=MemoryCardVault(),
        limiter=limiter, hasher=Argon2Hasher(), tokens=token_codec(clock),
    )  # fmt: skip
    email = f"{ids.new('usr')}@example.com"
    signed = await app.auth.signup(email, Secret(PASSWORD), "Scan Ltd")
    first = await app.auth.login(email, Secret(PASSWORD))
    second = await app.auth.refresh(first.refresh_token)
    owner = Principal(signed.merchant.id, False, signed.user.id, Role.OWNER, user_id=signed.user.id)
    secret_key = await app.api_keys.create(owner, KeyType.SECRET, Role.DEVELOPER)
    publishable = await app.api_keys.create(owner, KeyType.PUBLISHABLE, None)
    rolled = await app.api_keys.roll(owner, secret_key.key.id, grace=timedelta(hours=1))
    await app.api_keys.authenticate(rolled.plaintext)
    invitation = await app.members.invite(owner, "invitee@example.com", Role.STAFF)
    await app.auth.logout(second.refresh_token)
    await limiter.aclose()
    await app.aclose()

    secrets = {
        "password": PASSWORD,
        "access token": first.access_token.reveal(),
        "access token (refreshed)": second.access_token.reveal(),
        "refresh token": first.refresh_token.reveal(),
        "refresh token (rotated)": second.refresh_token.reveal(),
        "invitation token": invitation.token,
    }
    for name, issued in [("secret key", secret_key), ("rolled key", rolled)]:
        secrets[name] = issued.plaintext
        # The lookup prefix (sk_test_ + 8 characters) is stored on purpose; the rest never.
        secrets[f"{name} (unlisted part)"] = issued.plaintext[len(issued.key.lookup) :]

    async with engine.connect() as connection:
        tables = (
            (
                await connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            )
            .scalars()
            .all()
        )
        assert {"users", "api_keys", "refresh_tokens", "invitations", "audit_events"} <= set(tables)
        found, seen, publishable_in = [], set(), set()
        for table in tables:
            rows = (await connection.execute(text(f'SELECT t::text FROM "{table}" t'))).scalars()
            for row in rows:
                # Positive controls: the scan does read what is stored on purpose.
                seen.update(x for x in (email, secret_key.key.lookup) if x in row)
                if publishable.plaintext in row:
                    publishable_in.add(table)
                for name, value in secrets.items():
                    if value in row or value.encode().hex() in row:
                        found.append(f"{name} in {table}")
    assert seen == {email, secret_key.key.lookup}
    assert found == []
    assert publishable_in == {"api_keys"}
