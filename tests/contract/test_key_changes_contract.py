"""KeyChanges: PostgreSQL LISTEN/NOTIFY (the api_keys trigger of 0019_api_key_changes)
and the in-memory feed that the memory unit of work publishes to behave alike.

Each case runs two "processes" on one database: two ApiKeys, each with a feed of its
own, whose cache time is an hour, so that whatever a process stops trusting it stops
trusting because it was told (or because its feed went down), never because of the TTL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from adapters.sql.key_changes import PostgresKeyChanges
from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.roles import Role
from core.access.use_cases import ApiKeys, IssuedKey, SeededMerchant
from core.shared.errors import PermissionDenied, Unauthenticated
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.fakes import admin_of
from tests.fakes.key_changes import MemoryKeyChanges
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

HOUR = timedelta(hours=1)
SOON = 5.0  # seconds a notification may take to arrive

Feed = MemoryKeyChanges | PostgresKeyChanges


class Counted:
    """A unit of work factory that counts the units it opened: a cached authentication
    opens none."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self._inner = inner
        self.opened = 0

    def __call__(self) -> UnitOfWork:
        self.opened += 1
        return self._inner()


@dataclass
class Process:
    keys: ApiKeys
    feed: Feed
    reads: Counted
    told: list[str] = field(default_factory=list)  # lookups, as the feed told them

    async def admits(self, key: IssuedKey, origin: str = "") -> bool:
        try:
            await self.keys.authenticate(key.plaintext, origin)
        except (Unauthenticated, PermissionDenied):
            return False
        return True


@dataclass
class Cluster:
    uow: UnitOfWorkFactory
    database_url: str
    feeds: list[Feed] = field(default_factory=list)

    async def process(self) -> Process:
        feed: Feed
        if isinstance(self.uow, MemoryUnitOfWorkFactory):
            feed = self.uow.store.key_changes()
        else:
            feed = PostgresKeyChanges(self.database_url, retry_first=0.05)
            await feed.start()
        self.feeds.append(feed)
        await self.listening(feed)
        reads = Counted(self.uow)
        process = Process(ApiKeys(reads, RandomIds(), SystemClock(), cache_ttl=HOUR), feed, reads)
        feed.follow(process.keys.forget, process.keys.forget_all)
        feed.follow(process.told.append, lambda: None)
        return process

    async def listening(self, feed: Feed) -> None:
        if isinstance(feed, MemoryKeyChanges):
            feed.listen()
        assert await eventually(lambda: feed.listening)

    async def lose(self, feed: Feed) -> None:
        """The feed's connection breaks (the database restarted, the network failed)."""
        if isinstance(feed, MemoryKeyChanges):
            feed.lose()
            return
        pid = feed._listener.server_pid
        assert pid is not None
        async with self.uow() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert await eventually(lambda: feed._listener.server_pid != pid)


async def eventually(condition: Callable[[], bool], within: float = SOON) -> bool:
    for _ in range(int(within / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


async def refused_soon(process: Process, key: IssuedKey, origin: str = "") -> bool:
    for _ in range(int(SOON / 0.01)):
        if not await process.admits(key, origin):
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.fixture
async def cluster(any_uow_factory: UnitOfWorkFactory, database_url: str) -> AsyncIterator[Cluster]:
    cluster = Cluster(any_uow_factory, database_url)
    try:
        yield cluster
    finally:
        for feed in cluster.feeds:
            if isinstance(feed, PostgresKeyChanges):
                await feed.aclose()


@pytest.fixture
async def seeded(cluster: Cluster) -> SeededMerchant:
    return await ApiKeys(cluster.uow, RandomIds(), SystemClock()).seed_merchant("Two Processes")


async def test_a_key_revoked_through_one_process_is_refused_by_the_other(
    cluster: Cluster, seeded: SeededMerchant
) -> None:
    one, other = await cluster.process(), await cluster.process()
    key = await one.keys.create(admin_of(seeded), seeded.secret_key.key.type, Role.DEVELOPER)
    assert await one.admits(key) and await other.admits(key)  # cached on both

    await one.keys.revoke(admin_of(seeded), key.key.id)

    assert not await one.admits(key)  # at once where it was revoked
    assert await refused_soon(other, key)  # told; its cache time is an hour
    assert other.told == [key.key.lookup]
    assert await other.admits(seeded.secret_key)  # the others keep working


async def test_changed_ranges_and_a_roll_are_read_again_by_the_other(
    cluster: Cluster, seeded: SeededMerchant
) -> None:
    one, other = await cluster.process(), await cluster.process()
    key = await one.keys.create(admin_of(seeded), seeded.secret_key.key.type, Role.DEVELOPER)
    assert await other.admits(key, "203.0.113.5")

    await one.keys.set_allowed_ips(admin_of(seeded), key.key.id, ["10.0.0.0/8"])
    assert await refused_soon(other, key, "203.0.113.5")
    assert await other.admits(key, "10.1.2.3")

    reads = other.reads.opened
    await one.keys.roll(admin_of(seeded), key.key.id, grace=HOUR)  # still works for an hour
    assert await eventually(lambda: other.told.count(key.key.lookup) == 2)
    assert await other.admits(key, "10.1.2.3")
    assert other.reads.opened == reads + 1  # read again: it now carries its expiry


async def test_the_usage_flush_and_a_rolled_back_change_tell_nothing(
    cluster: Cluster, seeded: SeededMerchant
) -> None:
    one, other = await cluster.process(), await cluster.process()
    used, sentinel = seeded.secret_key, seeded.publishable_key
    assert await one.admits(used) and await other.admits(used)
    reads = other.reads.opened

    assert await one.keys.flush_usage() == 1  # usage_count, last_used_at of `used`
    async with cluster.uow() as uow:
        await uow.api_keys.revoke(seeded.merchant.id, used.key.id, seeded.merchant.created)
    # Notifications arrive in commit order: once the sentinel's has, any earlier one has.
    await one.keys.revoke(admin_of(seeded), sentinel.key.id)
    assert await eventually(lambda: sentinel.key.lookup in other.told)

    assert other.told == [sentinel.key.lookup]
    assert await other.admits(used)
    assert other.reads.opened == reads  # still cached: nothing told about it


async def test_a_lost_feed_forgets_every_key_and_listens_again(
    cluster: Cluster, seeded: SeededMerchant
) -> None:
    one, other = await cluster.process(), await cluster.process()
    assert await other.admits(seeded.secret_key)
    reads = other.reads.opened

    await cluster.lose(other.feed)
    assert await other.admits(seeded.secret_key)  # a request does not fail for it
    assert other.reads.opened == reads + 1  # a change may have been missed: read again
    assert await one.admits(seeded.secret_key)  # the other process's feed is unaffected

    await cluster.listening(other.feed)
    assert await other.admits(seeded.secret_key)
    await one.keys.revoke(admin_of(seeded), seeded.secret_key.key.id)
    assert await refused_soon(other, seeded.secret_key)


# --- PostgreSQL only -------------------------------------------------------------------


async def test_a_feed_that_cannot_connect_fails_no_request_and_keeps_trying(
    database_url: str, uow_factory: SqlUnitOfWorkFactory
) -> None:
    unreachable = make_url(database_url).set(host="127.0.0.1", port=1, query={})
    feed = PostgresKeyChanges(
        unreachable.render_as_string(hide_password=False),
        connect_timeout=0.5,
        retry_first=0.01,
        retry_max=0.05,
    )
    missed: list[None] = []
    keys = ApiKeys(uow_factory, RandomIds(), SystemClock(), changes=feed)
    feed.follow(lambda lookup: None, lambda: missed.append(None))
    seeded = await keys.seed_merchant("Feed Down")
    await feed.start()
    try:
        await keys.authenticate(seeded.secret_key.plaintext)
        await asyncio.sleep(0.2)  # several attempts
        assert not feed.listening and missed == []
        await keys.authenticate(seeded.secret_key.plaintext)
    finally:
        await feed.aclose()


async def test_the_trigger_tells_the_lookup_of_each_change_that_authentication_reads(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    import asyncpg

    from adapters.sql.engine import asyncpg_url

    seeded = await ApiKeys(uow_factory, ids, SystemClock()).seed_merchant("Trigger")
    secret, publishable = seeded.secret_key.key, seeded.publishable_key.key
    received: list[str] = []
    dsn = asyncpg_url(database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(dsn.render_as_string(hide_password=False))

    async def run(*statements: str) -> None:
        async with uow_factory() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            for statement in statements:
                await uow.connection.execute(text(statement), {"id": secret.id})
            await uow.commit()

    async def told() -> list[str]:
        """What arrived up to a change of the publishable key (the sentinel)."""
        sentinel = "UPDATE api_keys SET created = created + interval '1 s' WHERE id = :other"
        async with uow_factory() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.connection.execute(text(sentinel), {"other": publishable.id})
            await uow.commit()
        assert await eventually(lambda: publishable.lookup in received)
        seen = received[:-1]
        received.clear()
        return seen

    try:
        await listener.add_listener("api_key_changed", lambda *args: received.append(args[-1]))
        await run(
            "UPDATE api_keys SET usage_count = usage_count + 3, last_used_at = now() WHERE id = :id"
        )
        assert await told() == []
        await run("UPDATE api_keys SET role = 'DEVELOPER' WHERE id = :id")
        assert await told() == [secret.lookup]
        # One transaction, two changes of the key: one notification (folded at commit).
        await run(
            "UPDATE api_keys SET allowed_ips = '{10.0.0.0/8}' WHERE id = :id",
            "UPDATE api_keys SET expires_at = now() + interval '1 day' WHERE id = :id",
        )
        assert await told() == [secret.lookup]
        await run("UPDATE api_keys SET role = role WHERE id = :id")  # no change at all
        assert await told() == []
        await run("DELETE FROM api_keys WHERE id = :id")
        assert await told() == [secret.lookup]
    finally:
        await listener.close()
