"""Idempotency keys: who may run a mutating call, and what a retry gets back.

A key is scoped to (merchant, method, key). The first call with it claims the scope
(IN_FLIGHT, locked until `locked_until`), runs, and stores its outcome (COMPLETED): the
serialized response, or the error status for errors that are the final answer to that
request. A retry with the same request gets the stored outcome; with another request it
is refused (IdempotencyKeyReused); while the first call still runs it is refused
(IdempotencyKeyInUse). Records live for RETENTION, then any request may claim the key.

Nothing here stores a request: only a keyed hash of it (a request may carry a card
number, and PCI DSS 3.5.1 wants a keyed hash of a PAN, never a plain one). Responses
are stored as the server sent them; they never carry a PAN.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.idempotency.errors import FIELD, IdempotencyKeyInUse, IdempotencyKeyReused
from core.shared.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)

KEY_MAX_LENGTH = 255
# How long a key is remembered (Stripe: 24 hours), counted from its first use.
RETENTION = timedelta(hours=24)
# How long a claim holds the key before another call may take over (recovery after a
# crash). Longer than any mutating call runs, acquirer timeouts included.
LOCK_DURATION = timedelta(seconds=60)
HASH_BYTES = 32

# Errors that are the request's final answer: running it again would answer the same
# (a declined card stays declined for this attempt), so a retry gets them replayed.
# Everything else releases the key: bad input (fix it and retry with the same key),
# authentication and permission failures, rate limits, lost races (Conflict),
# unavailable dependencies and unexpected (INTERNAL) errors.
STORED_ERRORS: tuple[type[Exception], ...] = (FailedPrecondition, NotFound, AlreadyExists)


class State(StrEnum):
    IN_FLIGHT = "IN_FLIGHT"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True, slots=True)
class Scope:
    merchant_id: str
    method: str  # the full gRPC method, /paygate.v1.PaymentIntentService/CreatePaymentIntent
    key: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a finished call answered, exactly as sent: a serialized response message, or
    an error's code and serialized status (opaque bytes to core)."""

    response: bytes | None = None
    error_code: int | None = None
    error_status: bytes | None = None

    def __post_init__(self) -> None:
        is_error = self.error_code is not None and self.error_status is not None
        if (self.response is not None) == is_error or (
            (self.error_code is None) != (self.error_status is None)
        ):
            raise ValueError("an outcome is a response or an error code with its status")

    @classmethod
    def succeeded(cls, response: bytes) -> Outcome:
        return cls(response=response)

    @classmethod
    def failed(cls, code: int, status: bytes) -> Outcome:
        return cls(error_code=code, error_status=status)

    @property
    def is_error(self) -> bool:
        return self.response is None


@dataclass(frozen=True, slots=True)
class Record:
    """The stored state of one key."""

    scope: Scope
    request_hash: bytes
    state: State
    created_at: datetime
    # While IN_FLIGHT: until when the claim holds; also the claim's fencing token.
    locked_until: datetime
    completed_at: datetime | None = None
    outcome: Outcome | None = None

    def __post_init__(self) -> None:
        if len(self.request_hash) != HASH_BYTES:
            raise ValueError("request_hash is a SHA-256 digest")
        if (self.state is State.COMPLETED) != (self.outcome is not None) or (
            self.outcome is not None
        ) != (self.completed_at is not None):
            raise ValueError("a COMPLETED record has an outcome and completed_at; IN_FLIGHT none")


@dataclass(frozen=True, slots=True)
class Claim:
    """The right to run one call with a key. `locked_until` fences it: once another call
    has taken the key over (after the lock expired), this claim can neither complete nor
    release it."""

    scope: Scope
    request_hash: bytes
    locked_until: datetime


def parse_key(raw: str) -> str:
    """The key as sent, or InvalidArgument naming idempotency_key."""
    if not 1 <= len(raw) <= KEY_MAX_LENGTH or not all(" " <= c <= "~" for c in raw):
        raise InvalidArgument.field(
            FIELD, f"must be 1 to {KEY_MAX_LENGTH} printable ASCII characters (a UUID is ideal)"
        )
    return raw


def request_hash(secret: bytes, *, livemode: bool, request: bytes) -> bytes:
    """HMAC-SHA-256 of the canonical request bytes under the server's key.

    Keyed, because a request may carry a card number: an unkeyed hash of a tokenization
    request could be brute-forced back to the PAN. The mode is part of it, so a key
    used in test mode is never replayed to a live-mode request.
    """
    mode = b"live\x00" if livemode else b"test\x00"
    return hmac.new(secret, mode + request, hashlib.sha256).digest()


def replay(stored: Record, request_hash: bytes) -> Outcome:
    """What a call gets when `stored` holds its key and could not be taken over."""
    if not hmac.compare_digest(stored.request_hash, request_hash):
        raise IdempotencyKeyReused()
    if stored.outcome is None:
        raise IdempotencyKeyInUse()
    return stored.outcome


def may_take_over(stored: Record, request_hash: bytes, now: datetime, retention: timedelta) -> bool:
    """Whether a new call may claim a key that `stored` holds: the record outlived the
    retention, or its call crashed (still IN_FLIGHT after its lock expired) and this is
    a retry of the same request. Stores implement the same rule in their own terms."""
    if stored.created_at <= now - retention:
        return True
    return (
        stored.state is State.IN_FLIGHT
        and stored.locked_until <= now
        and stored.request_hash == request_hash
    )


def is_stored(error: BaseException) -> bool:
    """Whether a call that raised `error` keeps the key (COMPLETED with the error)."""
    return isinstance(error, STORED_ERRORS)
