"""The errors core raises. Servers map each class to one gRPC status code.

    PaygateError                 reason + message + metadata
    ├── InvalidArgument          INVALID_ARGUMENT, with one FieldViolation per bad field
    ├── Unauthenticated          UNAUTHENTICATED
    ├── PermissionDenied         PERMISSION_DENIED
    ├── NotFound                 NOT_FOUND (also for another merchant's objects)
    ├── AlreadyExists            ALREADY_EXISTS
    ├── FailedPrecondition       FAILED_PRECONDITION (wrong state, declined card)
    ├── Conflict                 ABORTED (a concurrent duplicate, a lost race)
    ├── ResourceExhausted        RESOURCE_EXHAUSTED (rate limits), with retry_after
    └── Unavailable              UNAVAILABLE (a dependency is down; safe to retry)

`reason` is stable UPPER_SNAKE: clients branch on it. `message` is for humans and never
contains a card number, a CVC or a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class PaygateError(Exception):
    default_reason = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: dict[str, str] = dict(metadata or {})


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str
    missing: bool = False


class InvalidArgument(PaygateError):
    """Reason PARAMETER_MISSING when the first bad field is absent, else PARAMETER_INVALID."""

    default_reason = "PARAMETER_INVALID"

    def __init__(
        self,
        violations: list[FieldViolation],
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if not violations:
            raise ValueError("InvalidArgument needs at least one violation")
        first = violations[0]
        super().__init__(
            "; ".join(f"{v.field}: {v.description}" for v in violations),
            reason=reason or ("PARAMETER_MISSING" if first.missing else None),
            metadata={"param": first.field, **(metadata or {})},
        )
        self.violations = list(violations)

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        return cls([FieldViolation(field, description)], reason=reason)


class Unauthenticated(PaygateError):
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(PaygateError):
    default_reason = "PERMISSION_DENIED"


class NotFound(PaygateError):
    default_reason = "RESOURCE_MISSING"


class AlreadyExists(PaygateError):
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(PaygateError):
    default_reason = "FAILED_PRECONDITION"


class Conflict(PaygateError):
    default_reason = "CONFLICT"


class VersionMoved(Conflict):
    """A versioned write found its row's version moved and wrote nothing. Raised by that
    write, or, when the unit of work held the write back, by the statement that sent it
    (the next one, or the commit): nothing of that transaction was written."""

    default_reason = "CONCURRENT_UPDATE"


class ResourceExhausted(PaygateError):
    default_reason = "RATE_LIMITED"

    def __init__(
        self, message: str, *, retry_after_seconds: int, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason, metadata={"retry_after": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class Unavailable(PaygateError):
    default_reason = "UNAVAILABLE"


class Violations:
    """Collects every bad field of a request so the caller hears of all of them at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def missing(self, field: str, description: str = "is required") -> None:
        self._items.append(FieldViolation(field, description, missing=True))

    def raise_if_any(self, *, reason: str | None = None) -> None:
        if self._items:
            raise InvalidArgument(self._items, reason=reason)
