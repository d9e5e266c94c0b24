"""The idempotency rules, over the in-memory store and a clock that moves when told."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.idempotency import MemoryIdempotencyStore
from core.idempotency.call import DeferredClaim
from core.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from core.idempotency.model import (
    LOCK_DURATION,
    RETENTION,
    Claim,
    Outcome,
    Scope,
    State,
    is_stored,
    parse_key,
    request_hash,
)
from core.idempotency.use_cases import Idempotency
from core.shared import errors
from tests.fakes import EPOCH, FixedClock

KEY = b"k" * 32
SCOPE = Scope(merchant_id="acct_1", method="/paygate.v1.X/Create", key="order-1")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def store() -> MemoryIdempotencyStore:
    return MemoryIdempotencyStore()


@pytest.fixture
def idempotency(store: MemoryIdempotencyStore, clock: FixedClock) -> Idempotency:
    return Idempotency(store, clock, hash_key=KEY)


def digest(idempotency: Idempotency, body: bytes = b"amount=1000") -> bytes:
    return idempotency.request_hash(livemode=False, request=body)


async def claimed(idempotency: Idempotency, request: bytes, scope: Scope = SCOPE) -> Claim:
    begun = await idempotency.begin(scope, request)
    assert isinstance(begun, Claim)
    return begun


# --- keys and hashes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["a", "x" * 255, "3f0c8e1a-9d7b-4c1e-a2f5-0b6d8c4e7a91", "order #42/retry ~!"]
)
def test_keys_of_1_to_255_printable_characters_are_accepted(key: str) -> None:
    assert parse_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "a\nb", "tab\there", "\x7f"])
def test_other_keys_are_invalid_argument_naming_the_field(key: str) -> None:
    with pytest.raises(errors.InvalidArgument) as raised:
        parse_key(key)
    assert raised.value.metadata["param"] == "idempotency_key"
    assert [v.field for v in raised.value.violations] == ["idempotency_key"]


def test_the_request_hash_is_keyed_and_covers_the_mode() -> None:
    body = b"\x08\xe8\x07\x12\x03usd"
    assert request_hash(KEY, livemode=False, request=body) == request_hash(
        KEY, livemode=False, request=body
    )
    assert len(request_hash(KEY, livemode=False, request=body)) == 32
    others = {
        request_hash(KEY, livemode=True, request=body),
        request_hash(b"q" * 32, livemode=False, request=body),
        request_hash(KEY, livemode=False, request=body + b"\x00"),
    }
    assert request_hash(KEY, livemode=False, request=body) not in others
    assert len(others) == 3


def test_a_short_hash_key_is_refused(store: MemoryIdempotencyStore, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Idempotency(store, clock, hash_key=b"short")


# --- begin / complete / release --------------------------------------------------------


async def test_the_first_call_claims_the_key_until_the_lock_expires(
    idempotency: Idempotency, store: MemoryIdempotencyStore
) -> None:
    claim = await claimed(idempotency, digest(idempotency))
    assert claim.locked_until == EPOCH + LOCK_DURATION
    record = store.records[SCOPE]
    assert (record.state, record.created_at, record.outcome) == (State.IN_FLIGHT, EPOCH, None)


async def test_a_duplicate_while_the_first_runs_is_in_use(idempotency: Idempotency) -> None:
    await claimed(idempotency, digest(idempotency))
    with pytest.raises(IdempotencyKeyInUse) as raised:
        await idempotency.begin(SCOPE, digest(idempotency))
    assert raised.value.reason == "IDEMPOTENCY_KEY_IN_USE"
    assert isinstance(raised.value, errors.Conflict)  # ABORTED, HTTP 409


async def test_other_parameters_with_a_used_key_are_refused_in_flight_or_completed(
    idempotency: Idempotency,
) -> None:
    claim = await claimed(idempotency, digest(idempotency))
    for _ in range(2):
        with pytest.raises(IdempotencyKeyReused) as raised:
            await idempotency.begin(SCOPE, digest(idempotency, b"amount=2000"))
        assert raised.value.reason == "IDEMPOTENCY_KEY_REUSED"
        assert raised.value.metadata["param"] == "idempotency_key"
        await idempotency.complete(claim, Outcome.succeeded(b"pi_1"))


async def test_a_retry_after_completion_gets_the_stored_outcome(
    idempotency: Idempotency, clock: FixedClock
) -> None:
    claim = await claimed(idempotency, digest(idempotency))
    assert await idempotency.complete(claim, Outcome.succeeded(b"\x0a\x04pi_1")) is True
    clock.advance(hours=23, minutes=59)
    assert await idempotency.begin(SCOPE, digest(idempotency)) == Outcome.succeeded(b"\x0a\x04pi_1")


async def test_a_stored_error_is_replayed_too(idempotency: Idempotency) -> None:
    claim = await claimed(idempotency, digest(idempotency))
    declined = Outcome.failed(9, b"status bytes")
    await idempotency.complete(claim, declined)
    assert await idempotency.begin(SCOPE, digest(idempotency)) == declined


async def test_a_released_key_runs_afresh_even_with_other_parameters(
    idempotency: Idempotency,
) -> None:
    claim = await claimed(idempotency, digest(idempotency, b"amount=-1"))
    assert await idempotency.release(claim) is True
    await claimed(idempotency, digest(idempotency, b"amount=1000"))


async def test_keys_are_scoped_by_merchant_and_method(idempotency: Idempotency) -> None:
    await claimed(idempotency, digest(idempotency))
    await claimed(idempotency, digest(idempotency), Scope("acct_2", SCOPE.method, SCOPE.key))
    await claimed(idempotency, digest(idempotency), Scope(SCOPE.merchant_id, "/m/Other", "order-1"))


# --- recovery and retention ------------------------------------------------------------


async def test_after_a_crash_the_retry_takes_over_once_the_lock_expires(
    idempotency: Idempotency, clock: FixedClock
) -> None:
    crashed = await claimed(idempotency, digest(idempotency))
    clock.advance(seconds=LOCK_DURATION.total_seconds() - 1)
    with pytest.raises(IdempotencyKeyInUse):
        await idempotency.begin(SCOPE, digest(idempotency))
    clock.advance(seconds=1)
    retry = await claimed(idempotency, digest(idempotency))
    # The crashed call, if it was only slow, cannot overwrite the retry's outcome.
    assert await idempotency.complete(crashed, Outcome.succeeded(b"late")) is False
    assert await idempotency.complete(retry, Outcome.succeeded(b"retry")) is True
    assert await idempotency.begin(SCOPE, digest(idempotency)) == Outcome.succeeded(b"retry")


async def test_a_crashed_key_is_not_taken_over_by_other_parameters(
    idempotency: Idempotency, clock: FixedClock
) -> None:
    await claimed(idempotency, digest(idempotency))
    clock.advance(hours=1)
    with pytest.raises(IdempotencyKeyReused):
        await idempotency.begin(SCOPE, digest(idempotency, b"amount=2000"))


async def test_after_24_hours_the_key_is_forgotten_and_reaped(
    idempotency: Idempotency, store: MemoryIdempotencyStore, clock: FixedClock
) -> None:
    claim = await claimed(idempotency, digest(idempotency))
    await idempotency.complete(claim, Outcome.succeeded(b"pi_1"))
    other = Scope(SCOPE.merchant_id, SCOPE.method, "order-2")
    clock.advance(hours=1)
    await claimed(idempotency, digest(idempotency), other)

    clock.at = EPOCH + RETENTION - timedelta(microseconds=1)
    assert await idempotency.reap_expired(clock.now(), limit=10) == 0
    clock.at = EPOCH + RETENTION
    assert await idempotency.reap_expired(clock.now(), limit=10) == 1
    assert set(store.records) == {other}
    # Forgotten: the key now takes any request.
    await claimed(idempotency, digest(idempotency, b"amount=2000"))


async def test_reaping_needs_a_positive_limit(idempotency: Idempotency) -> None:
    with pytest.raises(ValueError, match="limit"):
        await idempotency.reap_expired(EPOCH, limit=0)


# --- what is stored --------------------------------------------------------------------


class CardDeclined(errors.FailedPrecondition):
    default_reason = "CARD_DECLINED"


@pytest.mark.parametrize(
    ("error", "stored"),
    [
        (CardDeclined("Your card was declined."), True),
        (errors.FailedPrecondition("wrong state"), True),
        (errors.NotFound("no such intent"), True),
        (errors.AlreadyExists("exists"), True),
        (errors.InvalidArgument.field("amount", "must be positive"), False),
        (IdempotencyKeyReused(), False),
        (IdempotencyKeyInUse(), False),
        (errors.Conflict("lost a race"), False),
        (errors.Unauthenticated("who?"), False),
        (errors.PermissionDenied("no"), False),
        (errors.ResourceExhausted("slow down", retry_after_seconds=1), False),
        (errors.Unavailable("database down"), False),
        (RuntimeError("bug"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_only_final_answers_are_stored(error: Exception, stored: bool) -> None:
    assert is_stored(error) is stored


def test_an_outcome_is_a_response_or_an_error() -> None:
    assert not Outcome.succeeded(b"").is_error
    assert Outcome.failed(9, b"s").is_error
    with pytest.raises(ValueError):
        Outcome()
    with pytest.raises(ValueError):
        Outcome(response=b"x", error_code=9, error_status=b"s")
    with pytest.raises(ValueError):
        Outcome(error_code=9)


# --- a check that only reads (claims taken by the call's own transactions) ---------------


async def test_check_defers_the_claim_of_a_free_key_and_writes_nothing(
    idempotency: Idempotency, store: MemoryIdempotencyStore, clock: FixedClock
) -> None:
    checked = await idempotency.check(SCOPE, digest(idempotency))
    assert isinstance(checked, DeferredClaim)
    assert checked.record.state is State.IN_FLIGHT
    assert checked.record.locked_until == clock.now() + LOCK_DURATION
    assert checked.expired_before == clock.now() - RETENTION
    assert not checked.claimed and store.records == {}


async def test_check_answers_a_held_key_as_a_lost_claim_would(idempotency: Idempotency) -> None:
    request = digest(idempotency)
    claim = await claimed(idempotency, request)
    with pytest.raises(IdempotencyKeyInUse):
        await idempotency.check(SCOPE, request)
    with pytest.raises(IdempotencyKeyReused):
        await idempotency.check(SCOPE, digest(idempotency, b"amount=2000"))
    await idempotency.complete(claim, Outcome.succeeded(b"answer"))
    assert await idempotency.check(SCOPE, request) == Outcome.succeeded(b"answer")


async def test_check_defers_a_takeover_after_the_lock_expired(
    idempotency: Idempotency, clock: FixedClock
) -> None:
    request = digest(idempotency)
    await claimed(idempotency, request)
    clock.advance(seconds=LOCK_DURATION.total_seconds())
    assert isinstance(await idempotency.check(SCOPE, request), DeferredClaim)


# --- a key recorded with its answer after the call (tokenization) -------------------------


async def test_record_stores_a_free_key_completed_in_one_write(
    idempotency: Idempotency, store: MemoryIdempotencyStore, clock: FixedClock
) -> None:
    request = digest(idempotency)
    answer = Outcome.succeeded(b"tok_1")
    assert await idempotency.record(SCOPE, request, answer) == (answer, True)
    held = store.records[SCOPE]
    assert held.state is State.COMPLETED and held.outcome == answer
    assert held.created_at == held.completed_at == clock.now()
    assert await idempotency.check(SCOPE, request) == answer


async def test_record_answers_what_another_call_recorded_first(idempotency: Idempotency) -> None:
    request = digest(idempotency)
    first = Outcome.succeeded(b"tok_1")
    await idempotency.record(SCOPE, request, first)
    assert await idempotency.record(SCOPE, request, Outcome.succeeded(b"tok_2")) == (first, False)


async def test_record_refuses_another_request_under_the_key(idempotency: Idempotency) -> None:
    await idempotency.record(SCOPE, digest(idempotency), Outcome.succeeded(b"tok_1"))
    with pytest.raises(IdempotencyKeyReused):
        await idempotency.record(
            SCOPE, digest(idempotency, b"other card"), Outcome.succeeded(b"tok_2")
        )


async def test_record_meets_a_running_claim_as_a_duplicate_does(idempotency: Idempotency) -> None:
    request = digest(idempotency)
    await claimed(idempotency, request)
    with pytest.raises(IdempotencyKeyInUse):
        await idempotency.record(SCOPE, request, Outcome.succeeded(b"tok_2"))


async def test_record_replaces_a_key_past_its_retention(
    idempotency: Idempotency, clock: FixedClock
) -> None:
    await idempotency.record(SCOPE, digest(idempotency, b"old"), Outcome.succeeded(b"tok_1"))
    clock.advance(seconds=RETENTION.total_seconds())
    answer = Outcome.succeeded(b"tok_2")
    assert await idempotency.record(SCOPE, digest(idempotency), answer) == (answer, True)
