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
from core.events.ports import DeliveryRepository, EventRepository, WebhookEndpointRepository
from core.ledger.ports import (
    DisputeRepository,
    FxRateStore,
    LedgerRepository,
    MerchantTermsRepository,
    PayoutRepository,
    SettlementRepository,
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
    # The ledger joins the same transaction, so an entry commits with the state change
    # that causes it (core/ledger/hooks.py) or not at all.
    ledger: LedgerRepository
    merchant_terms: MerchantTermsRepository
    fx_rates: FxRateStore
    settlements: SettlementRepository
    payouts: PayoutRepository
    disputes: DisputeRepository
    # The outbox joins it too: an event commits with its change (core/events/outbox.py).
    events: EventRepository
    webhook_endpoints: WebhookEndpointRepository
    webhook_deliveries: DeliveryRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
