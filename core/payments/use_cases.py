"""Payment intent use-cases: validate, load, decide, persist. Nothing here knows the wire."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.access.model import Principal
from core.account.profile_cache import ProfileCache
from core.payments.errors import shown
from core.payments.model import (
    PAYMENT_METHOD_TYPES,
    CaptureMethod,
    PaymentEvent,
    PaymentIntent,
    Status,
)
from core.payments.redirect_methods import REDIRECT_CURRENCY, REDIRECT_METHOD_TYPES
from core.shared.errors import InvalidArgument, NotFound, Violations
from core.shared.money import MAX_AMOUNT, UnknownCurrency, normalize_currency
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.shared.redaction import mask_pans
from core.shared.text_rules import PAN_IN_TEXT, looks_like_pan, return_url_problem
from core.unit_of_work import Bookkeeping, NoBookkeeping, Saved, UnitOfWork, UnitOfWorkFactory

MAX_METADATA_KEYS = 50
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CreatePaymentIntent:
    amount: int
    currency: str
    capture_method: CaptureMethod | None = None
    payment_method_types: tuple[str, ...] = ()
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str = ""
    return_url: str = ""
    success_url: str = ""
    cancel_url: str = ""


@dataclass(frozen=True)
class UpdatePaymentIntent:
    """The merchant's own fields; None (or no metadata) leaves a field as it is. A metadata
    key with an empty value is removed."""

    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    receipt_email: str | None = None


def _check_details(
    description: str, metadata: dict[str, str], receipt_email: str, violations: Violations
) -> None:
    if len(metadata) > MAX_METADATA_KEYS:
        violations.add("metadata", f"may hold at most {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        shown = mask_pans(key[:40])
        if not key or len(key) > 40 or len(value) > 500:
            violations.add(f"metadata[{shown}]", "keys are 1-40 and values 0-500 characters")
        elif looks_like_pan(key) or looks_like_pan(value):
            violations.add(f"metadata[{shown}]", PAN_IN_TEXT)
    if receipt_email and not _EMAIL.match(receipt_email):
        violations.add("receipt_email", "is not an email address")
    if len(description) > 1000:
        violations.add("description", "may be at most 1000 characters")
    elif looks_like_pan(description):
        violations.add("description", PAN_IN_TEXT)


class PaymentIntents:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        books: Bookkeeping | None = None,
        profiles: ProfileCache | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        # The merchant's payment settings through the process's short cache, or read.
        self._profiles = profiles
        # The outbox (payment_intent.created) joins the transaction through this hook.
        self._books = books or NoBookkeeping()

    async def create(self, caller: Principal, cmd: CreatePaymentIntent) -> PaymentIntent:
        violations = Violations()
        # proto3 cannot tell an absent amount from 0, and neither is a valid one.
        if cmd.amount == 0:
            violations.missing("amount", "is required: a positive integer of minor units")
        elif cmd.amount < 0:
            violations.add("amount", "must be a positive integer of minor units")
        elif cmd.amount > MAX_AMOUNT:
            violations.add("amount", f"must be at most {MAX_AMOUNT}")
        currency = ""
        if not cmd.currency:
            violations.missing("currency", "is required (an ISO 4217 code such as usd)")
        else:
            try:
                currency = normalize_currency(cmd.currency)
            except UnknownCurrency:
                violations.add("currency", f"{cmd.currency[:8]!r} is not a supported currency")
        types = cmd.payment_method_types or ("card",)
        for i, kind in enumerate(types):
            if kind not in PAYMENT_METHOD_TYPES:
                violations.add(
                    f"payment_method_types[{i}]", "must be card, upi, wallet or netbanking"
                )
            elif kind in REDIRECT_METHOD_TYPES and currency and currency != REDIRECT_CURRENCY:
                violations.add(f"payment_method_types[{i}]", f"{kind} is available in INR only")
        _check_details(cmd.description, cmd.metadata, cmd.receipt_email, violations)
        if (problem := return_url_problem(cmd.return_url)) is not None:
            violations.add("return_url", problem)
        for name in ("success_url", "cancel_url"):
            if (problem := return_url_problem(getattr(cmd, name))) is not None:
                violations.add(name, problem)
        violations.raise_if_any()

        async with self._uow() as uow:
            # The merchant's payment settings (core/account/profile.py): at most one read
            # per PROFILE_CACHE_TTL, at once again after a change through this process.
            profile = (
                await self._profiles.get(uow, caller.merchant_id)
                if self._profiles is not None
                else await uow.business_profiles.get(caller.merchant_id)
            )
            if profile is not None and not profile.accepts(currency):
                accepted = ", ".join(profile.accepted_currencies)
                raise InvalidArgument.field(
                    "currency",
                    f"{currency} is not accepted by this account (accepted: {accepted})",
                    reason="CURRENCY_NOT_ACCEPTED",
                )
            default_capture = profile.default_capture_method if profile else CaptureMethod.AUTOMATIC
            intent_id = self._ids.new("pi")
            intent = PaymentIntent.create(
                id=intent_id,
                merchant_id=caller.merchant_id,
                amount=cmd.amount,
                currency=currency,
                capture_method=cmd.capture_method or default_capture,
                client_secret=f"{intent_id}_secret_{self._ids.secret(18)}",
                livemode=caller.livemode,
                created=self._clock.now(),
                actor=caller.actor,
                payment_method_types=tuple(dict.fromkeys(types)),
                description=cmd.description,
                metadata=cmd.metadata,
                receipt_email=cmd.receipt_email,
                return_url=cmd.return_url,
                success_url=cmd.success_url.strip(),
                cancel_url=cmd.cancel_url.strip(),
            )
            events = intent.pull_events()
            await uow.payment_intents.add(intent, events)
            # The call's answer, stored with the intent by an Idempotency-Key claimed in
            # this transaction (docs/idempotency.md, "In the call's own transactions").
            uow.conclude(intent)
            await self._commit(uow, intent, events)
        return intent

    async def _commit(
        self, uow: UnitOfWork, intent: PaymentIntent, events: Sequence[PaymentEvent]
    ) -> None:
        """The bookkeeping of the intent's new history lines (saved with it), in its
        transaction."""
        await self._books.record(uow, events, Saved(intent))
        await uow.commit()

    async def update(
        self, caller: Principal, intent_id: str, cmd: UpdatePaymentIntent
    ) -> PaymentIntent:
        violations = Violations()
        _check_details(cmd.description or "", cmd.metadata, cmd.receipt_email or "", violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            intent = await uow.payment_intents.get(caller.merchant_id, intent_id, for_update=True)
            if intent is None or intent.livemode != caller.livemode:
                raise NotFound(
                    f"No such payment intent: {shown(intent_id)}", metadata={"param": "id"}
                )
            intent.update_details(
                description=cmd.description,
                metadata=cmd.metadata,
                receipt_email=cmd.receipt_email,
                actor=caller.actor,
                at=self._clock.now(),
            )
            if len(intent.metadata) > MAX_METADATA_KEYS:
                violations.add("metadata", f"may hold at most {MAX_METADATA_KEYS} keys in all")
                violations.raise_if_any()
            events = intent.pull_events()
            await uow.payment_intents.update(intent, events)
            await self._commit(uow, intent, events)
        return intent

    async def get(
        self, caller: Principal, intent_id: str, *, client_secret: str = ""
    ) -> PaymentIntent:
        async with self._uow() as uow:
            intent = await uow.payment_intents.get(caller.merchant_id, intent_id)
        # A publishable key reads an intent only with its client secret; a wrong one looks
        # exactly like a missing intent so that ids cannot be probed. Another mode's intent
        # does not exist for this caller either.
        if (
            intent is None
            or intent.livemode != caller.livemode
            or (caller.is_publishable and not intent.secret_matches(client_secret))
        ):
            raise NotFound(f"No such payment intent: {shown(intent_id)}", metadata={"param": "id"})
        return intent.as_seen_by(caller.is_publishable)

    async def list(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        status: Status | None = None,
    ) -> Page[PaymentIntent]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.payment_intents.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.payment_intents.list(
                caller.merchant_id,
                limit=limit + 1,
                starting_after=starting_after or None,
                status=status,
                livemode=caller.livemode,
            )
        return Page.from_overfetch(list(rows), limit)
