"""Events and webhook endpoints: what the merchant is told, and where.

An event is an immutable record that a merchant-visible object changed: its `type` is
Stripe's name for the change (merchants know them), `data.object` the object exactly as
the public API renders it at that moment (core.events.ports.ObjectRenderer), `request`
the API call that caused it (empty for the worker's changes). It is written by the
transactional outbox (core.events.outbox) in the same database transaction as the change.

A webhook endpoint is a URL of the merchant's with the event types it wants ("*" for
all) and a signing secret (`whsec_...`, shown once). A delivery is one event owed to one
endpoint; each try at it is an attempt, kept in the delivery log.

    delivery  PENDING --2xx--> SUCCEEDED
              PENDING --schedule spent / 410 / endpoint deleted--> FAILED
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.shared.secret import Secret


class EventType(StrEnum):
    PAYMENT_INTENT_CREATED = "payment_intent.created"
    PAYMENT_INTENT_REQUIRES_ACTION = "payment_intent.requires_action"
    PAYMENT_INTENT_PROCESSING = "payment_intent.processing"
    PAYMENT_INTENT_AMOUNT_CAPTURABLE_UPDATED = "payment_intent.amount_capturable_updated"
    PAYMENT_INTENT_SUCCEEDED = "payment_intent.succeeded"
    PAYMENT_INTENT_PAYMENT_FAILED = "payment_intent.payment_failed"
    PAYMENT_INTENT_CANCELED = "payment_intent.canceled"
    CHARGE_REFUNDED = "charge.refunded"
    REFUND_CREATED = "refund.created"
    REFUND_UPDATED = "refund.updated"
    REFUND_FAILED = "refund.failed"
    CHARGE_DISPUTE_CREATED = "charge.dispute.created"
    CHARGE_DISPUTE_CLOSED = "charge.dispute.closed"
    PAYOUT_CREATED = "payout.created"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    SETTLEMENT_COMPLETED = "settlement.completed"
    # paygate's own: an endpoint was disabled by the platform (410, or failing 5 days).
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"


class SignatureScheme(StrEnum):
    """How an endpoint's deliveries are signed and shaped (core.events.signing)."""

    STANDARD_WEBHOOKS = "STANDARD_WEBHOOKS"  # webhook-signature; the API's own rendering
    STRIPE = "STRIPE"  # Stripe-Signature; the event and its object in Stripe's shape


ALL_EVENTS = "*"
EVENT_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True)
class RequestRef:
    """The API call that caused the event; empty for the worker's changes."""

    id: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Event:
    id: str  # evt_...
    merchant_id: str
    type: str  # an EventType value
    created: datetime
    livemode: bool
    data: Mapping[str, Any]  # data.object: the object as the public API renders it
    request: RequestRef = RequestRef()

    def envelope(self) -> dict[str, Any]:
        """The JSON body of a webhook. The Events API answers the same fields, with
        `created` as an RFC 3339 string (the API's rule for timestamps)."""
        return {
            "id": self.id,
            "object": "event",
            "type": self.type,
            "created": int(self.created.timestamp()),
            "livemode": self.livemode,
            "data": {"object": dict(self.data)},
            "request": {"id": self.request.id, "idempotency_key": self.request.idempotency_key},
        }


@dataclass(frozen=True)
class EventFilter:
    types: tuple[str, ...] = ()
    created_gte: datetime | None = None
    created_lte: datetime | None = None
    # True: every delivery succeeded (or none was owed); False: one is pending or failed.
    delivery_success: bool | None = None


@dataclass
class WebhookEndpoint:
    id: str  # we_...
    merchant_id: str
    url: str
    enabled_events: tuple[str, ...]
    livemode: bool
    secret: Secret  # whsec_...
    created: datetime
    description: str = ""
    disabled: bool = False
    # Set while the secret rotates: deliveries carry a signature with each until it ends.
    previous_secret: Secret | None = None
    previous_secret_expires_at: datetime | None = None
    # When deliveries began failing without a success since; None while healthy.
    failing_since: datetime | None = None
    disabled_reason: str = ""
    version: int = 1
    signature_scheme: SignatureScheme = SignatureScheme.STANDARD_WEBHOOKS

    def wants(self, event_type: str) -> bool:
        return not self.disabled and (
            ALL_EVENTS in self.enabled_events or event_type in self.enabled_events
        )

    def signing_secrets(self, now: datetime) -> list[Secret]:
        """The current secret, and the previous one during a rotation's overlap."""
        secrets = [self.secret]
        if (
            self.previous_secret is not None
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            secrets.append(self.previous_secret)
        return secrets


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass
class Delivery:
    id: str  # whd_...
    event_id: str
    endpoint_id: str
    merchant_id: str
    status: DeliveryStatus
    created: datetime
    next_attempt_at: datetime | None
    attempts: int = 0
    # The claim of the worker sending it now: no other worker takes it before this time.
    lease_until: datetime | None = None
    lease_token: str = ""
    last_status_code: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class FanOut:
    """The deliveries an event gets as it is written: one PENDING delivery, due at `due`,
    for every endpoint of the event's merchant and mode that wants it at that moment (in
    the writing transaction's view), but `exclude_endpoint`; ids from `new_id`."""

    due: datetime
    new_id: Callable[[], str]
    exclude_endpoint: str = ""

    def delivery(self, event: Event, endpoint_id: str) -> Delivery:
        return Delivery(
            id=self.new_id(),
            event_id=event.id,
            endpoint_id=endpoint_id,
            merchant_id=event.merchant_id,
            status=DeliveryStatus.PENDING,
            created=event.created,
            next_attempt_at=self.due,
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    """One HTTP request of a delivery, as the delivery log shows it (no secret in it)."""

    id: str  # wha_...
    delivery_id: str
    event_id: str
    endpoint_id: str
    merchant_id: str
    attempted_at: datetime
    request_headers: Mapping[str, str]
    status_code: int  # 0: no response
    response_body: str  # the first KiB
    latency_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker leased, with what it needs to send it."""

    delivery: Delivery
    event: Event
    endpoint: WebhookEndpoint


@dataclass(frozen=True)
class WebhookPolicy:
    """The knobs of delivery (servers/settings.py sets them)."""

    # Seconds before each attempt, the first one included (0: at once). Stripe-like
    # default: about 3 days of retries.
    schedule: tuple[float, ...] = (
        0, 5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000,
    )  # fmt: skip
    timeout: float = 10.0
    # A claim outlives the request by this much: a live worker always records first.
    lease_margin: float = 20.0
    endpoint_concurrency: int = 10
    disable_after: timedelta = timedelta(days=5)
    rotation_overlap: timedelta = timedelta(hours=24)
    retention: timedelta = timedelta(days=30)
    # The longest a Retry-After is honoured.
    max_retry_after: float = 86400.0
    jitter: float = 0.1  # +- this fraction of each delay

    def __post_init__(self) -> None:
        if not self.schedule or any(s < 0 for s in self.schedule):
            raise ValueError("the retry schedule is one or more non-negative delays")
        if self.endpoint_concurrency < 1:
            raise ValueError("endpoint_concurrency must be at least 1")

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout + self.lease_margin)


def parse_schedule(text: str) -> tuple[float, ...]:
    """PAYGATE_WEBHOOK_RETRY_SCHEDULE: seconds before each attempt, comma separated."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"not a list of seconds: {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ValueError(f"not a list of non-negative seconds: {text!r}")
    return values


def next_attempt_delay(
    policy: WebhookPolicy, attempts_made: int, *, jitter: float, retry_after: float | None
) -> float | None:
    """Seconds until the next attempt after `attempts_made` tries, or None when the
    schedule is spent. `jitter` is a number in [0, 1) (the caller's randomness): the
    delay moves by up to +-policy.jitter of itself, so endpoints recovering from an
    outage are not hit by every retry at once. A Retry-After (429, 503) replaces the
    schedule's delay when it is longer."""
    if attempts_made >= len(policy.schedule):
        return None
    delay = policy.schedule[attempts_made]
    delay *= 1 + policy.jitter * (2 * jitter - 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.max_retry_after))
    return max(delay, 0.0)
