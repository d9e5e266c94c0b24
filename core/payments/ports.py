"""What the payments context needs from the outside world.

Repositories (one transaction through the unit of work), the card vault and the acquirers.
Claims (`claim_*`) are for background work any number of workers share: they lock with
FOR UPDATE SKIP LOCKED, so two workers never take the same row.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.payments.acquirer import Acquirer, Card
from core.payments.model import (
    PaymentAttempt,
    PaymentEvent,
    PaymentIntent,
    Refund,
    Status,
)
from core.payments.routing import PaymentFacts, RouteDecision


class PaymentIntentRepository(Protocol):
    async def add(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        """Stores a new intent and appends `events`, its first history lines (as
        PaymentEventLog.append would), in one write.

        Raises core.shared.errors.AlreadyExists when its id is taken (and appends nothing):
        here, or at the latest when the unit of work commits, for a store that holds the
        write back to send it with the next one (adapters/sql/held.py).
        """
        ...

    async def get(
        self, merchant_id: str, intent_id: str, *, for_update: bool = False
    ) -> PaymentIntent | None:
        """The intent if it belongs to that merchant; `for_update` locks it until commit."""
        ...

    async def by_id(self, intent_id: str) -> PaymentIntent | None:
        """By id alone: the hosted checkout page knows the intent, not its merchant."""
        ...

    async def list(
        self,
        merchant_id: str,
        *,
        limit: int,
        starting_after: str | None = None,
        status: Status | None = None,
        livemode: bool | None = None,
    ) -> Sequence[PaymentIntent]:
        """Up to `limit` intents, newest first, older than `starting_after` when given, of
        one mode when `livemode` is given."""
        ...

    async def update(self, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()) -> None:
        """Saves a changed intent whose `version` is still the stored one, and bumps it;
        appends `events`, the history lines of the change (as PaymentEventLog.append
        would), in the same write.

        Raises core.shared.errors.Conflict when another transaction saved it first (and
        appends nothing).
        """
        ...

    async def update_many(self, intents: Sequence[PaymentIntent]) -> None:
        """Saves intents this transaction holds locked (claimed), in one round trip.

        Bumps each version; no version check, the row locks make it unnecessary.
        """
        ...

    async def claim_unconfirmed(
        self, created_before: datetime, *, limit: int
    ) -> Sequence[PaymentIntent]:
        """Locks (FOR UPDATE SKIP LOCKED) up to `limit` intents of any merchant still waiting
        for a payment method or confirmation and created before the cutoff, oldest first."""
        ...

    async def claim_capture_expired(self, now: datetime, *, limit: int) -> Sequence[PaymentIntent]:
        """Locks (FOR UPDATE SKIP LOCKED) up to `limit` REQUIRES_CAPTURE intents whose
        `capture_before` has passed, oldest deadline first."""
        ...


class PaymentEventLog(Protocol):
    async def append(self, events: Sequence[PaymentEvent]) -> None: ...

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentEvent]:
        """The intent's history, oldest first."""
        ...


class PaymentAttemptRepository(Protocol):
    async def add(self, attempt: PaymentAttempt) -> None:
        """Raises core.shared.errors.Conflict when the intent already has an attempt that is
        not FAILED (at most one attempt per intent holds or may hold money)."""
        ...

    async def add_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        """The new attempt and its intent's update (PaymentIntentRepository.update, with
        the history lines of its change) written together, in one statement where the
        store has statements: both or neither. A stale intent raises that update's
        Conflict and writes no attempt; otherwise `add`'s errors. Bumps intent.version."""
        ...

    async def update_with_intent(
        self, attempt: PaymentAttempt, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        """`update` of the attempt and of its intent (with the lines), both or neither. A
        stale attempt raises `update`'s Conflict, else a stale intent the intent's; either
        way nothing is written. Bumps both versions."""
        ...

    async def get(self, attempt_id: str, *, for_update: bool = False) -> PaymentAttempt | None:
        """By id alone: the 3-D Secure page and the acquirers' callbacks know no merchant."""
        ...

    async def get_many(
        self, attempt_ids: Sequence[str], *, for_update: bool = False
    ) -> Sequence[PaymentAttempt]:
        """The attempts that exist among `attempt_ids`, in one round trip, in no order."""
        ...

    async def locked_with_intent(
        self, merchant_id: str, attempt_id: str
    ) -> tuple[PaymentIntent, PaymentAttempt] | None:
        """The attempt and its intent, both locked FOR UPDATE in one round trip, the intent
        first (the lock order everywhere); None when either is missing."""
        ...

    async def for_intent(self, merchant_id: str, intent_id: str) -> Sequence[PaymentAttempt]:
        """The intent's attempts, oldest first."""
        ...

    async def update(self, attempt: PaymentAttempt) -> None:
        """Optimistic like PaymentIntentRepository.update."""
        ...

    async def update_many(self, attempts: Sequence[PaymentAttempt]) -> None:
        """Like PaymentIntentRepository.update_many, for locked attempts."""
        ...

    async def claim_in_flight(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[PaymentAttempt]:
        """Leases up to `limit` attempts left PROCESSING, CAPTURE_PENDING or VOID_PENDING
        since before the cutoff: picks them FOR UPDATE SKIP LOCKED, sets their `updated_at`
        to `now` (so no other worker picks them again before the cutoff passes anew), bumps
        their version and returns them as saved. Oldest first."""
        ...

    async def claim_awaiting_action(
        self,
        payment_method_types: Sequence[str],
        updated_before: datetime,
        now: datetime,
        *,
        limit: int,
    ) -> Sequence[PaymentAttempt]:
        """Leases up to `limit` REQUIRES_ACTION attempts of any of `payment_method_types`
        (upi, wallet, netbanking) untouched since before the cutoff, oldest first, like
        claim_in_flight: the poller's queue. A leased attempt comes back once the cutoff
        passes its new `updated_at`."""
        ...


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> None: ...

    async def add_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        """Like PaymentAttemptRepository.add_with_intent, for a refund."""
        ...

    async def update_with_intent(
        self, refund: Refund, intent: PaymentIntent, events: Sequence[PaymentEvent] = ()
    ) -> None:
        """Like PaymentAttemptRepository.update_with_intent, for a refund."""
        ...

    async def get(
        self, merchant_id: str, refund_id: str, *, for_update: bool = False
    ) -> Refund | None: ...

    async def list(
        self,
        merchant_id: str,
        *,
        livemode: bool = False,
        limit: int,
        starting_after: str | None = None,
        payment_intent_id: str | None = None,
    ) -> Sequence[Refund]:
        """One mode's, newest first."""
        ...

    async def update(self, refund: Refund) -> None:
        """Optimistic like PaymentIntentRepository.update."""
        ...

    async def claim_pending(
        self, updated_before: datetime, now: datetime, *, limit: int
    ) -> Sequence[Refund]:
        """Leases PENDING refunds untouched since before the cutoff, like
        PaymentAttemptRepository.claim_in_flight."""
        ...


class PaymentsScope(Protocol):
    """The payments context's repositories in a unit of work (core/unit_of_work.py)."""

    payment_intents: PaymentIntentRepository
    payment_events: PaymentEventLog
    payment_attempts: PaymentAttemptRepository
    refunds: RefundRepository


# --- the card vault ----------------------------------------------------------------------


@dataclass(frozen=True)
class CardForPayment:
    """A card out of the vault for one authorization. Only `card` holds the number and the
    CVC (as Secrets); the rest may be stored with the attempt."""

    card: Card
    fingerprint: str  # keyed, per merchant: the same card gives the same value
    funding: str = ""  # credit | debit | prepaid | unknown
    country: str = ""  # ISO 3166-1 alpha-2, "" when unknown
    bin: str = ""  # the first six digits
    test_card: bool = False  # one of the test card numbers API.md publishes


@dataclass(frozen=True)
class CardProfile:
    """What the application zone may know of a vaulted card before paying with it: never
    the number. The first six and last four digits are what PCI DSS lets be shown."""

    brand: str  # lower case: visa, mastercard, amex, ...
    last4: str
    iin: str  # the first six digits: routing by network and BIN, risk rules
    fingerprint: str  # keyed, per merchant
    funding: str = ""  # credit | debit | prepaid | unknown
    country: str = ""  # ISO 3166-1 alpha-2, "" when unknown
    test_card: bool = False  # one of the test card numbers API.md publishes


class CardProfiles(Protocol):
    """The vault as the application zone sees it before a payment (core.payments.lifecycle):
    describes a card without giving it out or using up a token."""

    async def card_profile(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardProfile:
        """The card behind `payment_method` (tok_... or pm_...), if it can pay now.

        Raises what card_for_payment would raise, without consuming anything: NotFound
        (param payment_method) for an unknown id, another merchant's or the other mode's;
        FailedPrecondition TOKEN_ALREADY_USED, TOKEN_EXPIRED.
        """
        ...


class CardVault(Protocol):
    """The vault seen from the cardholder-data zone (core.payments.zone): the only way a
    card number reaches a connector.

    tests/contract/test_card_vault_contract.py is what every implementation must do.
    """

    async def card_for_payment(
        self, merchant_id: str, payment_method: str, *, livemode: bool, purpose: str
    ) -> CardForPayment:
        """The card behind `payment_method` for one authorization.

        `tok_...` is single-use: it is consumed here, and a second call raises
        FailedPrecondition reason TOKEN_ALREADY_USED. `pm_...` is reusable. An unknown id,
        another merchant's, or one of the other mode (live/test) raises NotFound with
        metadata param=payment_method. `purpose` (e.g. "payment_intent pi_... attempt
        pa_...") goes into the vault's audit trail. Errors never contain the number.
        """
        ...


class VaultForPayments(CardVault, CardProfiles, Protocol):
    """Both faces of the vault, as the composition root holds it: CardProfiles for the
    application zone, CardVault for the cardholder-data zone it builds in this process."""


# --- acquirers ---------------------------------------------------------------------------


class AcquirerRouter(Protocol):
    """Which acquirers may take a payment (core.payments.routing), and each by name. The
    attempt remembers the acquirer that holds it, so later calls (capture, void, refund,
    lookup) go to the same one."""

    def route(self, facts: PaymentFacts) -> RouteDecision | None:
        """The rule that matched and its acquirers, cheapest first; None: no rule."""
        ...

    def acquirer(self, name: str) -> Acquirer:
        """The acquirer of that name (KeyError if none)."""
        ...


# --- change notification -----------------------------------------------------------------


class IntentChanges(Protocol):
    """Tells a waiting reader that a payment intent changed (WatchPaymentIntent).

    Every committed transaction that appends to an intent's event history (which every
    change of an intent does) counts as a change. Only that something changed is told,
    not what: the reader loads the intent again. Several changes may come as one tick,
    and a tick may come without a visible change; a change is never missed while
    subscribed.

    tests/contract/test_intent_changes_contract.py is what every implementation must do.
    """

    def subscribe(self, merchant_id: str, intent_id: str) -> AsyncGenerator[None, None]:
        """Ticks once as soon as listening has begun (so that the reader loads the
        intent after it could miss nothing), then once after each committed change.

        Ends (StopAsyncIteration) when the feed stops: the process is shutting down or
        lost its connection; the reader should end its watch and let the client come
        back. Raises core.shared.errors.Unavailable when listening cannot begin. Close
        it (aclose) to stop listening.
        """
        ...


# --- observation -------------------------------------------------------------------------


class PaymentObserver(Protocol):
    """Told of every saved change of a payment attempt (its status, method, currency,
    decline code): the metrics hook. Called inside the change's transaction, so it must
    not block or raise; a change rolled back afterwards has been told all the same."""

    def attempt_saved(self, attempt: PaymentAttempt) -> None: ...


class NoPaymentObserver:
    def attempt_saved(self, attempt: PaymentAttempt) -> None:
        pass
