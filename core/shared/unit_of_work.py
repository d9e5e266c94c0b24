"""One transaction across the repositories of every context."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from core.access.ports import (
    ApiKeyRepository,
    AuditLog,
    InvitationRepository,
    MembershipRepository,
    MerchantRepository,
    RateLimitOverrides,
    SessionRepository,
    UserRepository,
)
from core.payments.ports import (
    PaymentAttemptRepository,
    PaymentEventLog,
    PaymentIntentRepository,
    RefundRepository,
)


class UnitOfWork(Protocol):
    """`async with uow:` opens a transaction; leaving without `commit()` rolls it back."""

    payment_intents: PaymentIntentRepository
    payment_events: PaymentEventLog
    payment_attempts: PaymentAttemptRepository
    refunds: RefundRepository
    merchants: MerchantRepository
    api_keys: ApiKeyRepository
    users: UserRepository
    memberships: MembershipRepository
    invitations: InvitationRepository
    sessions: SessionRepository
    audit: AuditLog
    rate_limit_overrides: RateLimitOverrides

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
