"""The idempotency store behaves the same in memory and on PostgreSQL.

Scopes are unique per test (a fresh merchant id), so tests share the session's database
without cleaning it. Reaping tests use an epoch of their own, older than anything other
tests write, so the rows they reap are theirs alone.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.tables import idempotency_keys
from core.idempotency.model import Claim, Outcome, Record, Scope, State
from core.idempotency.ports import IdempotencyStore
from tests.contract.helpers import T0

LOCK = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
METHOD = "/paygate.v1.PaymentIntentService/CreatePaymentIntent"
HASH_A = bytes(range(32))
HASH_B = bytes(range(1, 33))
# A response with every byte value, NULs included: stored and returned unchanged.
RESPONSE = bytes(range(256)) * 3


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> IdempotencyStore:
    if request.param == "memory":
        return MemoryIdempotencyStore()
    engine: AsyncEngine = request.getfixturevalue("engine")
    return SqlIdempotencyStore(engine)


@pytest.fixture
def scope() -> Scope:
    return Scope(merchant_id=f"acct_{secrets.token_hex(8)}", method=METHOD, key="order-1")


def in_flight(scope: Scope, request_hash: bytes = HASH_A, at: datetime = T0) -> Record:
    return Record(
        scope=scope,
        request_hash=request_hash,
        state=State.IN_FLIGHT,
        created_at=at,
        locked_until=at + LOCK,
    )


def claim_of(record: Record) -> Claim:
    return Claim(record.scope, record.request_hash, record.locked_until)


async def claim(store: IdempotencyStore, record: Record, now: datetime) -> Record | None:
    return await store.claim(record, now=now, expired_before=now - RETENTION)


async def test_a_free_key_is_claimed_and_then_held(store: IdempotencyStore, scope: Scope) -> None:
    first = in_flight(scope)
    assert await claim(store, first, T0) is None
    assert await claim(store, in_flight(scope), T0 + timedelta(seconds=1)) == first


async def test_find_reads_the_holding_record_or_none(store: IdempotencyStore, scope: Scope) -> None:
    assert await store.find(scope) is None
    record = in_flight(scope)
    await claim(store, record, T0)
    assert await store.find(scope) == record
    await store.complete(claim_of(record), Outcome.succeeded(RESPONSE), T0)
    found = await store.find(scope)
    assert found is not None and found.outcome == Outcome.succeeded(RESPONSE)


@pytest.mark.parametrize(
    "outcome",
    [Outcome.succeeded(RESPONSE), Outcome.succeeded(b""), Outcome.failed(9, b"\x08\x09\x12\x00")],
    ids=["response", "empty-response", "error"],
)
async def test_a_completed_outcome_comes_back_byte_for_byte(
    store: IdempotencyStore, scope: Scope, outcome: Outcome
) -> None:
    record = in_flight(scope)
    await claim(store, record, T0)
    done_at = T0 + timedelta(milliseconds=42)
    assert await store.complete(claim_of(record), outcome, done_at) is True

    held = await claim(store, in_flight(scope, at=T0 + LOCK * 2), T0 + LOCK * 2)
    assert held is not None
    assert held.state is State.COMPLETED
    assert held.outcome == outcome
    assert held.completed_at == done_at
    assert (held.created_at, held.request_hash) == (T0, HASH_A)


async def test_another_request_does_not_take_a_held_key(
    store: IdempotencyStore, scope: Scope
) -> None:
    first = in_flight(scope)
    await claim(store, first, T0)
    assert await claim(store, in_flight(scope, HASH_B), T0) == first
    # Not even after the lock expired: the key was used for the first request.
    later = T0 + LOCK * 2
    assert await claim(store, in_flight(scope, HASH_B, at=later), later) == first


async def test_a_crashed_call_is_taken_over_by_its_retry_after_the_lock(
    store: IdempotencyStore, scope: Scope
) -> None:
    crashed = in_flight(scope)
    await claim(store, crashed, T0)
    # Until the lock expires the key is held...
    almost = T0 + LOCK - timedelta(microseconds=1)
    assert await claim(store, in_flight(scope, at=almost), almost) == crashed
    # ...then the same request takes it over.
    retry = in_flight(scope, at=T0 + LOCK)
    assert await claim(store, retry, T0 + LOCK) is None

    # The old claim is fenced off: it can neither complete nor free the key.
    assert await store.complete(claim_of(crashed), Outcome.succeeded(b"late"), T0 + LOCK) is False
    assert await store.release(claim_of(crashed)) is False
    assert await store.complete(claim_of(retry), Outcome.succeeded(b"retry"), T0 + LOCK) is True
    held = await claim(store, in_flight(scope, at=T0 + LOCK), T0 + LOCK)
    assert held is not None and held.outcome == Outcome.succeeded(b"retry")


async def test_a_completed_key_is_kept_for_the_retention_then_reusable(
    store: IdempotencyStore, scope: Scope
) -> None:
    record = in_flight(scope)
    await claim(store, record, T0)
    await store.complete(claim_of(record), Outcome.succeeded(b"first"), T0)

    before = T0 + RETENTION - timedelta(microseconds=1)
    assert (await claim(store, in_flight(scope, HASH_B, at=before), before)) is not None
    # At 24 h the record counts as gone, reaped or not: any request may use the key.
    fresh = in_flight(scope, HASH_B, at=T0 + RETENTION)
    assert await claim(store, fresh, T0 + RETENTION) is None
    assert await claim(store, in_flight(scope, at=T0 + RETENTION), T0 + RETENTION) == fresh


async def test_release_frees_the_key(store: IdempotencyStore, scope: Scope) -> None:
    record = in_flight(scope)
    await claim(store, record, T0)
    assert await store.release(claim_of(record)) is True
    assert await store.release(claim_of(record)) is False
    assert await claim(store, in_flight(scope, HASH_B), T0) is None


async def test_a_completed_key_cannot_be_completed_or_released_again(
    store: IdempotencyStore, scope: Scope
) -> None:
    record = in_flight(scope)
    await claim(store, record, T0)
    assert await store.complete(claim_of(record), Outcome.succeeded(b"one"), T0) is True
    assert await store.complete(claim_of(record), Outcome.succeeded(b"two"), T0) is False
    assert await store.release(claim_of(record)) is False
    held = await claim(store, in_flight(scope), T0)
    assert held is not None and held.outcome == Outcome.succeeded(b"one")


async def test_merchant_method_and_key_each_scope_a_record(
    store: IdempotencyStore, scope: Scope
) -> None:
    await claim(store, in_flight(scope), T0)
    others = [
        Scope(f"acct_{secrets.token_hex(8)}", scope.method, scope.key),
        Scope(scope.merchant_id, "/paygate.v1.ApiKeyService/CreateApiKey", scope.key),
        Scope(scope.merchant_id, scope.method, "order-2"),
        Scope(scope.merchant_id, scope.method, scope.key.upper()),  # keys are case-sensitive
    ]
    for other in others:
        assert await claim(store, in_flight(other, HASH_B), T0) is None, other


async def test_concurrent_claims_on_one_key_have_one_winner(
    store: IdempotencyStore, scope: Scope
) -> None:
    results = await asyncio.gather(*(claim(store, in_flight(scope), T0) for _ in range(20)))
    assert sum(result is None for result in results) == 1
    assert {r.state for r in results if r is not None} == {State.IN_FLIGHT}


async def test_reap_deletes_the_oldest_records_up_to_the_limit(store: IdempotencyStore) -> None:
    epoch = datetime(2001, 1, 1, tzinfo=UTC)  # older than what any other test writes
    merchant = f"acct_{secrets.token_hex(8)}"
    records = [
        in_flight(Scope(merchant, METHOD, f"k{i}"), at=epoch + timedelta(hours=i)) for i in range(5)
    ]
    for record in records:
        await claim(store, record, record.created_at)
    await store.complete(claim_of(records[0]), Outcome.succeeded(b"x"), epoch)

    cutoff = epoch + timedelta(hours=3)  # records 0..3 are due, 4 is not
    assert await store.reap(cutoff, limit=3) == 3
    assert await store.reap(cutoff, limit=3) == 1
    assert await store.reap(cutoff, limit=3) == 0
    now = records[4].created_at
    # Reaped keys are free; the young one is still held.
    assert await claim(store, in_flight(records[0].scope, HASH_B, at=now), now) is None
    assert await claim(store, in_flight(records[4].scope, HASH_B, at=now), now) == records[4]


async def test_concurrent_takeovers_of_a_crashed_key_have_one_winner(
    store: IdempotencyStore, scope: Scope
) -> None:
    await claim(store, in_flight(scope), T0)
    now = T0 + LOCK
    retries = [in_flight(scope, at=now) for _ in range(10)]
    results = await asyncio.gather(*(claim(store, retry, now) for retry in retries))
    assert sum(result is None for result in results) == 1
    # The losers see the winner's fresh claim, not the crashed one.
    assert {r.locked_until for r in results if r is not None} == {now + LOCK}


# --- PostgreSQL only -------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"status": "COMPLETED"},  # no outcome
        {"status": "IN_FLIGHT", "response": b"x"},  # an outcome while in flight
        {"status": "COMPLETED", "response": b"x", "error_code": 9, "error_status": b"s"},
        {"status": "COMPLETED", "error_code": 9},  # a code without its status
        {"status": "DONE"},
        {"key": ""},
        {"request_hash": b"short"},
    ],
    ids=["no-outcome", "early-outcome", "both", "half-error", "status", "empty-key", "hash"],
)
async def test_the_table_refuses_inconsistent_rows(engine: AsyncEngine, values: dict) -> None:
    row = {
        "merchant_id": f"acct_{secrets.token_hex(8)}",
        "key": "k",
        "method": METHOD,
        "request_hash": HASH_A,
        "status": "IN_FLIGHT",
        "created_at": T0,
        "locked_until": T0 + LOCK,
    }
    if values.get("status") == "COMPLETED":
        row["completed_at"] = T0
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(insert(idempotency_keys).values({**row, **values}))


def completed(scope: Scope, request_hash: bytes = HASH_A, at: datetime = T0) -> Record:
    """A key recorded with its answer in one write (a tokenization's)."""
    return Record(
        scope=scope,
        request_hash=request_hash,
        state=State.COMPLETED,
        created_at=at,
        locked_until=at,
        completed_at=at,
        outcome=Outcome.succeeded(RESPONSE),
    )


async def test_a_key_is_recorded_completed_in_one_claim(
    store: IdempotencyStore, scope: Scope
) -> None:
    record = completed(scope)
    assert await claim(store, record, T0) is None
    assert await store.find(scope) == record
    # It is held like any answered key: neither another answer nor another request takes it.
    assert await claim(store, completed(scope), T0) == record
    assert await claim(store, in_flight(scope, HASH_B), T0 + LOCK * 2) == record


async def test_concurrent_records_on_one_key_have_one_winner(
    store: IdempotencyStore, scope: Scope
) -> None:
    results = await asyncio.gather(*(claim(store, completed(scope), T0) for _ in range(20)))
    assert sum(result is None for result in results) == 1
    assert {r.state for r in results if r is not None} == {State.COMPLETED}


async def test_a_recorded_key_replaces_an_expired_one(
    store: IdempotencyStore, scope: Scope
) -> None:
    await claim(store, completed(scope, HASH_B), T0)
    later = T0 + RETENTION
    record = completed(scope, at=later)
    assert await claim(store, record, later) is None
    assert await store.find(scope) == record
