"""Confirm, capture, cancel, complete an action, sync, recover and expire: the attempt flows.

One cohesive thing, kept in one module (about 670 lines): PaymentLifecycle and the phases
every flow shares; a flow read alone would hide the recovery point it shares with the
others.

Every flow runs the same phases (docs/payments.md):

    validate -> load -> decide -> phase 1: one transaction locks the intent (FOR UPDATE),
    checks its state and writes "about to call" (attempt PROCESSING / CAPTURE_PENDING /
    VOID_PENDING, intent PROCESSING, event) -> phase 2: the acquirer call, outside any
    transaction, with the attempt id as its idempotency reference -> phase 3: one
    transaction locks the intent again, applies the answer (core.payments.settlement)
    and appends the events.

An AUTOMATIC intent's authorization is sent as a sale (the capture reference with it):
an acquirer that makes sales answers the approval and its capture at once, phase 3
records both, and the capture's own call is not made.

No answer (a timeout) leaves the attempt in flight: the intent stays PROCESSING and the
call answers with it. sync_attempt and recover_stuck_attempts ask the acquirer again later
with the same reference, so nothing is ever authorized or captured twice.

A confirm locks by writing: its phase 1 and phase 3 write at the versions it read and
wrote, and read the rows locked only when a version moved (docs/payments.md, "Confirm
without the locking reads").

Lock order, everywhere: the intent, then its attempt. Batch claims skip locked rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.access.model import Principal
from core.payments.acquirer import (
    Acquirer,
    AcquirerError,
    AcquirerRejected,
    AcquirerTimeout,
    AcquirerUnavailable,
    AuthorizationRequest,
    CaptureRequest,
    CardReference,
    InvalidPaymentDetails,
    NetBanking,
    OperationResult,
    PaymentSource,
    Upi,
    VoidRequest,
    Wallet,
    parse_vpa,
)
from core.payments.breaker import Breakers
from core.payments.errors import AcquirerUnavailableError, PaymentFailed, shown
from core.payments.failover import NotSent, authorize_along
from core.payments.model import (
    MERCHANT_CANCELLATION_REASONS,
    AttemptStatus,
    CancellationReason,
    CaptureMethod,
    ErrorCode,
    PaymentAttempt,
    PaymentError,
    PaymentEvent,
    PaymentIntent,
    PaymentPolicy,
    Status,
)
from core.payments.observer import NoObserver, PaymentsObserver
from core.payments.ports import (
    AcquirerRouter,
    CardProfile,
    CardProfiles,
    NoPaymentObserver,
    PaymentObserver,
)
from core.payments.redirect_methods import parse_bank, parse_wallet
from core.payments.risk_check import MAX_DEVICE_FINGERPRINT, RISK_BLOCKED, signals_of
from core.payments.routing import PaymentFacts, RouteDecision
from core.payments.settlement import (
    NOT_RECEIVED,
    AuthorizationAnswer,
    apply_authorization,
    apply_capture,
    apply_void,
)
from core.risk.engine import RiskEngine
from core.shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    VersionMoved,
    Violations,
)
from core.shared.ids import has_prefix
from core.shared.money import MAX_AMOUNT, Money
from core.shared.ports import Clock, IdGenerator
from core.shared.text_rules import return_url_problem
from core.unit_of_work import (
    NOTHING_SAVED,
    Bookkeeping,
    NoBookkeeping,
    Saved,
    UnitOfWork,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

# Actors written into events by flows no API key starts.
CUSTOMER = "customer"  # the payer, through the 3-D Secure page or the UPI app
SYSTEM_SYNC = "system:sync"
SYSTEM_RECOVERY = "system:recovery"
SYSTEM_EXPIRY = "system:expiry"

# The reason of the Conflict a versioned write raises when its row moved: it wrote nothing.
CONCURRENT_UPDATE = "CONCURRENT_UPDATE"


class _Moved(Exception):
    """The write of rows held at the versions this call read or wrote found a version
    moved: it wrote nothing, and the rows are to be read locked and decided on again.
    Raised for that write's VersionMoved alone (by the write, or by the statement or the
    commit that sent it when the unit of work held it back), never for a later
    statement's conflict."""


@dataclass(frozen=True)
class ConfirmPaymentIntent:
    payment_method: str = ""  # tok_... or pm_...
    upi_vpa: str | None = None  # set when the request had `upi`
    wallet_provider: str | None = None  # set when the request had `wallet`
    netbanking_bank: str | None = None  # set when the request had `netbanking`
    client_secret: str = ""  # required with a publishable key
    return_url: str = ""
    device_fingerprint: str = ""  # the checkout's, for the risk engine; optional


@dataclass(frozen=True)
class _Source:
    kind: str  # card | upi | wallet | netbanking
    payment_method: str = ""
    vpa: str = ""
    provider: str = ""  # the wallet, or the bank's code

    @property
    def field(self) -> str:
        """The request's field that named this source, for errors."""
        return {"card": "payment_method"}.get(self.kind, self.kind)


OperationAnswer = OperationResult | AcquirerRejected | None
# What a flow answers when the transaction in hand commits: the object the servicer
# renders (UnitOfWork.conclude), or None when the flow goes on or raises after it.
Conclusion = Callable[[PaymentIntent, PaymentAttempt], object | None]


class PaymentLifecycle:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        *,
        vault: CardProfiles,
        acquirers: AcquirerRouter,
        policy: PaymentPolicy | None = None,
        books: Bookkeeping | None = None,
        observer: PaymentObserver | None = None,
        risk: RiskEngine | None = None,
        breakers: Breakers | None = None,
        routing_observer: PaymentsObserver | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._vault = vault
        self._acquirers = acquirers
        self.policy = policy or PaymentPolicy()
        self._books = books or NoBookkeeping()
        self._observer = observer or NoPaymentObserver()
        self._risk = risk or RiskEngine.without_rules()
        self._routing_observer = routing_observer or NoObserver()
        self._breakers = breakers or Breakers(
            clock, on_change=self._routing_observer.breaker_changed
        )

    # ================================================================== confirm

    async def confirm(
        self, caller: Principal, intent_id: str, cmd: ConfirmPaymentIntent
    ) -> PaymentIntent:
        """Authorizes (and with capture_method AUTOMATIC captures) the intent's amount.

        Answers the intent: REQUIRES_CAPTURE, SUCCEEDED, REQUIRES_ACTION (next_action), or
        PROCESSING when the acquirer's answer is not known yet. A failed attempt raises
        PaymentFailed (CARD_DECLINED, PROCESSING_ERROR, RISK_BLOCKED, ...) after the intent
        went back to REQUIRES_PAYMENT_METHOD with last_payment_error. A publishable key
        gets the browser's view of the intent (PaymentIntent.browser_view).
        """
        intent = await self._confirm(caller, intent_id, cmd)
        return intent.as_seen_by(caller.is_publishable)

    async def _confirm(
        self, caller: Principal, intent_id: str, cmd: ConfirmPaymentIntent
    ) -> PaymentIntent:
        # validate
        source = self._validate_confirm(cmd)
        # load: a confirm that cannot succeed must not use up a single-use token
        intent = await self._readable(caller, intent_id, cmd.client_secret)
        if caller.is_publishable and has_prefix(source.payment_method, "pm"):
            # A saved card is the merchant's to charge. A browser holding a client secret
            # pays with a card it tokenized itself (tok_...); otherwise anyone with one
            # intent's secret could charge any card the merchant keeps on file.
            raise PermissionDenied(
                "A publishable key confirms with a token (tok_...); a saved payment method "
                "is confirmed with the secret key.",
                reason="PAYMENT_METHOD_NOT_ALLOWED",
                metadata={"param": "payment_method"},
            )
        intent.ensure_can_attempt(self.policy)
        if source.kind not in intent.payment_method_types:
            allowed = ", ".join(intent.payment_method_types)
            raise InvalidArgument.field(source.field, f"this payment intent accepts {allowed} only")
        # decide
        now = self._clock.now()
        attempt = PaymentAttempt(
            id=self._ids.new("pa"),
            merchant_id=intent.merchant_id,
            payment_intent_id=intent.id,
            amount=intent.amount,
            currency=intent.currency,
            status=AttemptStatus.PROCESSING,
            payment_method_type=source.kind,
            acquirer="",  # routed below, once the card's network is known
            created=now,
            updated_at=now,
            payment_method=source.payment_method,
            upi_vpa=source.vpa,
            livemode=intent.livemode,
        )
        payment_source: PaymentSource
        profile: CardProfile | None = None
        if source.kind == "card":
            # The card is described, never handed out: the cardholder-data zone swaps the
            # reference for the number just before the connector's call (core.payments.zone).
            profile = await self._vault.card_profile(
                intent.merchant_id, source.payment_method, livemode=intent.livemode
            )
            payment_source = CardReference(
                source.payment_method,
                livemode=intent.livemode,
                purpose=f"payment_intent {intent.id} attempt {attempt.id}",
            )
            attempt.card_brand = profile.brand
            attempt.card_last4 = profile.last4
            attempt.card_fingerprint = profile.fingerprint
        elif source.kind == "wallet":
            payment_source = Wallet(source.provider)
            attempt.wallet_provider = source.provider
        elif source.kind == "netbanking":
            payment_source = NetBanking(source.provider)
            attempt.netbanking_bank = source.provider
        else:
            payment_source = Upi(source.vpa)
        attempt.risk = await self._risk.assess(
            attempt.id, signals_of(intent, caller, profile, cmd.device_fingerprint), now
        )
        if attempt.risk.blocked:
            attempt.status = AttemptStatus.FAILED
            attempt.error = RISK_BLOCKED
        route = self._route(intent, attempt)

        # phase 1: about to call
        merchant_name = ""
        async with self._uow() as uow:
            if source.kind != "card":  # the payer's app or page shows the payee's name
                merchant = await uow.merchants.get(intent.merchant_id)
                merchant_name = merchant.name if merchant else ""
            intent = await self._attach(uow, caller, intent, attempt, cmd.return_url, now)
        if attempt.error is not None:
            raise PaymentFailed.of(attempt.error, intent_id=intent.id, attempt_id=attempt.id)

        # phase 2: the call
        request = AuthorizationRequest(
            attempt_reference=attempt.id,
            merchant_id=intent.merchant_id,
            amount=Money(intent.amount, intent.currency),
            source=payment_source,
            merchant_name=merchant_name,
            description=intent.description,
            require_authentication=attempt.risk.needs_authentication,
            return_url=intent.return_url,
            # AUTOMATIC: a sale, captured in the same message by an acquirer that makes
            # sales, under the reference the capture would have had anyway. The recovery
            # point is the same: lookup reports the capture with the approval
            # (docs/connectors.md, "a sale").
            capture_reference=(
                attempt.next_capture_reference
                if intent.capture_method is CaptureMethod.AUTOMATIC
                else ""
            ),
        )
        routed = await authorize_along(
            route.candidates,
            request,
            acquirer_of=self._acquirers.acquirer,
            breakers=self._breakers,
            clock=self._clock,
            current=attempt.acquirer,
            before_send=lambda name: self._move_to(attempt, name),
            observer=self._routing_observer,
        )
        attempt.acquirer = routed.acquirer
        tries = [t.as_dict() for t in routed.tries]
        if isinstance(routed.answer, NotSent):
            intent, attempt = await self._fail_unsent(attempt, caller.actor, tries)
            raise AcquirerUnavailableError(
                "The acquirer could not be reached; nothing was charged. Try again.",
                metadata={"payment_intent": intent.id, "attempt": attempt.id},
            ) from None
        self._routing_observer.routed(route.rule, routed.acquirer, source.kind)
        answer: AuthorizationAnswer = routed.answer

        # phase 3: the result
        publishable = caller.is_publishable

        def concludes(intent: PaymentIntent, attempt: PaymentAttempt) -> object | None:
            if attempt.status is AttemptStatus.FAILED:
                return None  # raised below
            return intent.as_seen_by(publishable)

        intent, attempt = await self._settle_authorization(
            attempt, answer, caller.actor, held=intent, tries=tries, concludes=concludes
        )
        intent, attempt = await self._continue(intent, attempt, caller.actor, concludes)
        if attempt.status is AttemptStatus.FAILED and attempt.error is not None:
            if isinstance(answer, InvalidPaymentDetails):
                raise answer.to_invalid_argument()
            raise PaymentFailed.of(attempt.error, intent_id=intent.id, attempt_id=attempt.id)
        return intent

    async def _attach(
        self,
        uow: UnitOfWork,
        caller: Principal,
        read: PaymentIntent,
        attempt: PaymentAttempt,
        return_url: str,
        now: datetime,
    ) -> PaymentIntent:
        """Confirm's phase 1 write and commit: the attempt with its intent, at the version
        the load read and checked, with no locking read first. The write is versioned: when the
        intent moved since the load (a cancel, another confirm, an update), it writes
        nothing, and the intent is read locked and decided on again, as every phase 1
        does (docs/payments.md, "Confirm without the locking reads")."""
        try:
            attached = await self._attached(uow, caller, read, attempt, return_url, now, held=True)
            await self._commit_held(uow, attempt, held=True)
            return attached
        except _Moved:
            pass
        intent = await self._locked_intent(uow, caller, read.id)
        attached = await self._attached(uow, caller, intent, attempt, return_url, now, held=False)
        await uow.commit()
        return attached

    async def _attached(
        self,
        uow: UnitOfWork,
        caller: Principal,
        intent: PaymentIntent,
        attempt: PaymentAttempt,
        return_url: str,
        now: datetime,
        *,
        held: bool,
    ) -> PaymentIntent:
        if attempt.status is AttemptStatus.FAILED:
            intent.reject_attempt(attempt, policy=self.policy, actor=caller.actor, at=now)
        else:
            intent.begin_attempt(attempt, policy=self.policy, actor=caller.actor, at=now)
        if return_url:
            intent.return_url = return_url
        await self._save(uow, intent, attempt, new=True, held=held)
        return intent

    def _validate_confirm(self, cmd: ConfirmPaymentIntent) -> _Source:
        violations = Violations()
        source = _Source("card")
        given = [
            name
            for name, value in (
                ("payment_method", cmd.payment_method or None),
                ("upi", cmd.upi_vpa),
                ("wallet", cmd.wallet_provider),
                ("netbanking", cmd.netbanking_bank),
            )
            if value is not None
        ]
        if len(given) > 1:
            violations.add(given[0], f"give one of {', '.join(given)}, not several")
        elif cmd.wallet_provider is not None:
            try:
                source = _Source("wallet", provider=parse_wallet(cmd.wallet_provider))
            except InvalidArgument as error:
                violations.add(error.violations[0].field, error.violations[0].description)
        elif cmd.netbanking_bank is not None:
            try:
                source = _Source("netbanking", provider=parse_bank(cmd.netbanking_bank))
            except InvalidArgument as error:
                violations.add(error.violations[0].field, error.violations[0].description)
        elif cmd.upi_vpa is not None:
            try:
                source = _Source("upi", vpa=parse_vpa(cmd.upi_vpa))
            except InvalidArgument as error:
                violations.add(error.violations[0].field, error.violations[0].description)
        elif not cmd.payment_method:
            violations.missing(
                "payment_method",
                "is required: a token (tok_...), a payment method (pm_...), upi, wallet or "
                "netbanking",
            )
        elif has_prefix(cmd.payment_method, "tok") or has_prefix(cmd.payment_method, "pm"):
            source = _Source("card", payment_method=cmd.payment_method)
        else:
            violations.add(
                "payment_method", "must be a token (tok_...) or a payment method (pm_...)"
            )
        if (problem := return_url_problem(cmd.return_url)) is not None:
            violations.add("return_url", problem)
        if len(cmd.device_fingerprint) > MAX_DEVICE_FINGERPRINT:
            violations.add(
                "device_fingerprint", f"must be at most {MAX_DEVICE_FINGERPRINT} characters"
            )
        violations.raise_if_any()
        return source

    def _route(self, intent: PaymentIntent, attempt: PaymentAttempt) -> RouteDecision:
        """Decide: the routing rule's acquirers for this payment, cheapest first."""
        facts = PaymentFacts(
            payment_method_type=attempt.payment_method_type,
            currency=intent.currency,
            amount=intent.amount,
            merchant_id=intent.merchant_id,
            network=attempt.card_brand,
        )
        route = self._acquirers.route(facts)
        if route is None or not route.candidates:
            raise AcquirerUnavailableError(
                "No acquirer takes this payment; nothing was charged.",
                metadata={"payment_intent": intent.id},
            )
        attempt.acquirer, attempt.route = route.candidates[0], route.rule
        return route

    async def _move_to(self, attempt: PaymentAttempt, acquirer: str) -> None:
        """Failover's recovery point: the attempt names its next acquirer before the call,
        so recovery asks the one that may hold it."""
        async with self._uow() as uow:
            _, fresh = await self._locked_pair(uow, attempt)
            if fresh.status is not AttemptStatus.PROCESSING:
                raise LookupError(f"attempt {attempt.id} left PROCESSING during its failover")
            fresh.acquirer = acquirer
            fresh.updated_at = self._clock.now()
            await uow.payment_attempts.update(fresh)
            await uow.commit()

    async def _fail_unsent(
        self, attempt: PaymentAttempt, actor: str, tries: list[dict[str, str]] | None = None
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """The authorization never left: the attempt fails without using up a try."""
        error = PaymentError(
            ErrorCode.ACQUIRER_UNAVAILABLE, message="The acquirer could not be reached."
        )
        async with self._uow() as uow:
            intent, attempt = await self._locked_pair(uow, attempt)
            if attempt.status is AttemptStatus.PROCESSING:
                if tries is not None:
                    attempt.tries = tries
                now = self._clock.now()
                attempt.fail(error, now)
                intent.attempt_failed(error, actor=actor, at=now)
                await self._save(uow, intent, attempt)
                await uow.commit()
        return intent, attempt

    # ================================================================== capture

    async def capture(
        self, caller: Principal, intent_id: str, amount_to_capture: int = 0
    ) -> PaymentIntent:
        """Captures a REQUIRES_CAPTURE intent: all of it, or `amount_to_capture` of it (the
        rest of the authorization is released). Answers SUCCEEDED, or PROCESSING when the
        acquirer's answer is not known yet."""
        if amount_to_capture < 0 or amount_to_capture > MAX_AMOUNT:
            raise InvalidArgument.field(
                "amount_to_capture", "must be a positive integer of minor units"
            )
        now = self._clock.now()
        # Phase 1: written at the versions read, with no locking read first; when either
        # moved since (a cancel, another capture), nothing was written, and the pair is
        # read locked and decided on again, as the confirm's phase 1 does.
        intent, attempt = await self._read_capturable(caller, intent_id)
        async with self._uow() as uow:
            try:
                _begin_capture(intent, attempt, amount_to_capture, caller.actor, now)
                await self._save(uow, intent, attempt, held=True)
                await self._commit_held(uow, attempt, held=True)
            except _Moved:
                intent, attempt = await self._capturable(uow, caller, intent_id, lock=True)
                _begin_capture(intent, attempt, amount_to_capture, caller.actor, now)
                await self._save(uow, intent, attempt)
                await uow.commit()
        intent, attempt = await self._run_capture(
            attempt, caller.actor, _capture_answer, held=intent
        )
        if attempt.status is AttemptStatus.AUTHORIZED and attempt.error is not None:
            raise FailedPrecondition(
                attempt.error.message or "The capture failed.",
                reason=ErrorCode.CAPTURE_FAILED,
                metadata={"payment_intent": intent.id, "acquirer_code": attempt.error.decline_code},
            )
        return intent

    async def _run_capture(
        self,
        attempt: PaymentAttempt,
        actor: str,
        concludes: Conclusion | None = None,
        *,
        held: PaymentIntent | None = None,
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """Phases 2 and 3 of a capture whose phase 1 (CAPTURE_PENDING) is committed.
        `held`: the attempt's intent as phase 1 wrote it with `attempt`, both at the
        versions that write returned; the answer is then written at those versions with
        no locking read first, as _settle_authorization(held=...) does. When either moved
        (a cancel, recovery, another capture), nothing was written, and the pair is read
        locked and the answer applied to it, as without `held`; so is an answer that
        changes nothing (docs/payments.md, "Capture")."""
        reference = attempt.capture_reference
        request = CaptureRequest(
            attempt_reference=attempt.id,
            capture_reference=reference,
            merchant_id=attempt.merchant_id,
            amount=Money(attempt.amount_to_capture, attempt.currency),
            final=True,
        )
        answer: OperationAnswer
        try:
            answer = await self._acquirer_of(attempt).capture(request)
        except (AcquirerTimeout, AcquirerUnavailable):
            answer = None  # retried with the same reference by recovery
        except AcquirerRejected as rejected:
            answer = rejected
        async with self._uow() as uow:
            if held is not None:
                # When this pair moved, it is left behind: only the ids of `attempt` are
                # read again below.
                try:
                    if await self._apply_capture(
                        uow, held, attempt, reference, answer, actor, concludes, held=True
                    ):
                        return held, attempt
                except _Moved:
                    pass
            intent, attempt = await self._locked_pair(uow, attempt)
            await self._apply_capture(
                uow, intent, attempt, reference, answer, actor, concludes, held=False
            )
        return intent, attempt

    async def _apply_capture(
        self,
        uow: UnitOfWork,
        intent: PaymentIntent,
        attempt: PaymentAttempt,
        reference: str,
        answer: OperationAnswer,
        actor: str,
        concludes: Conclusion | None,
        *,
        held: bool,
    ) -> bool:
        """Applies the capture's `answer` to the pair and commits it when it changed
        something; whether it did. `held`: as in _apply_authorization."""
        now = self._clock.now()
        if not apply_capture(intent, attempt, reference, answer, actor=actor, at=now):
            return False
        await self._save(uow, intent, attempt, held=held)
        _conclude(uow, concludes, intent, attempt)
        await self._commit_held(uow, attempt, held=held)
        return True

    # =================================================================== cancel

    async def cancel(self, caller: Principal, intent_id: str, reason: str = "") -> PaymentIntent:
        """Cancels an intent. Without an attempt in flight it is one transaction; with an
        authorization (REQUIRES_CAPTURE) or a pending action (REQUIRES_ACTION) the acquirer
        voids it first. Answers CANCELED, or PROCESSING when the void's answer is unknown."""
        cancellation = parse_cancellation_reason(reason)
        now = self._clock.now()
        async with self._uow() as uow:
            intent = await self._locked_intent(uow, caller, intent_id)
            if intent.status in (Status.REQUIRES_PAYMENT_METHOD, Status.REQUIRES_CONFIRMATION):
                intent.cancel(cancellation, actor=caller.actor, at=now)
                await self._save(uow, intent)
                await uow.commit()
                return intent
            intent.begin_void(cancellation, actor=caller.actor, at=now)
            attempt = await self._locked_attempt(uow, intent)
            attempt.move(AttemptStatus.VOID_PENDING, now)
            await self._save(uow, intent, attempt)
            await uow.commit()
        intent, attempt, error = await self._run_void(attempt, caller.actor)
        if error is not None:
            raise FailedPrecondition(
                error.message or "The acquirer refused to cancel the payment.",
                reason=ErrorCode.CANCEL_FAILED,
                metadata={"status": intent.status.value, "acquirer_code": error.decline_code},
            )
        return intent

    async def _run_void(
        self, attempt: PaymentAttempt, actor: str
    ) -> tuple[PaymentIntent, PaymentAttempt, PaymentError | None]:
        """Phases 2 and 3 of a void whose phase 1 (VOID_PENDING) is committed."""
        request = VoidRequest(
            attempt_reference=attempt.id, merchant_id=attempt.merchant_id, reason="canceled"
        )
        answer: OperationAnswer
        try:
            answer = await self._acquirer_of(attempt).void(request)
        except (AcquirerTimeout, AcquirerUnavailable):
            answer = None
        except AcquirerRejected as rejected:
            answer = rejected
        error = None
        async with self._uow() as uow:
            intent, attempt = await self._locked_pair(uow, attempt)
            was = attempt.status
            error = apply_void(intent, attempt, answer, actor=actor, at=self._clock.now())
            if attempt.status is not was:
                await self._save(uow, intent, attempt)
                await uow.commit()
        return intent, attempt, error

    # ============================================================ action, sync

    async def complete_action(
        self, attempt_id: str, passed: bool, *, actor: str = CUSTOMER
    ) -> PaymentIntent:
        """The payer finished the action (3-D Secure challenge, UPI approval): the acquirer
        is told, and the intent moves on (REQUIRES_CAPTURE, SUCCEEDED) or back to
        REQUIRES_PAYMENT_METHOD. Submitting twice answers the intent as it is."""
        attempt = await self._attempt(attempt_id)
        if attempt.status is not AttemptStatus.REQUIRES_ACTION:
            return await self._intent_of(attempt)
        now = self._clock.now()
        async with self._uow() as uow:
            intent, attempt = await self._locked_pair(uow, attempt)
            if attempt.status is not AttemptStatus.REQUIRES_ACTION:
                return intent  # someone else got there first
            intent.action_started(actor=actor, at=now)
            attempt.move(AttemptStatus.PROCESSING, now)
            await self._save(uow, intent, attempt)
            await uow.commit()
        acquirer = self._acquirers.acquirer(attempt.acquirer)
        answer: AuthorizationAnswer
        try:
            answer = await acquirer.complete_challenge(attempt.id, passed)
        except AcquirerTimeout:
            answer = None
        except (AcquirerUnavailable, AcquirerRejected):
            # Not sent, or refused as such: what does the acquirer hold now?
            answer = await self._lookup(acquirer, attempt.id)
        intent, attempt = await self._settle_authorization(attempt, answer, actor)
        intent, attempt = await self._continue(intent, attempt, actor)
        return intent

    async def sync_attempt(
        self, attempt_id: str, *, actor: str = SYSTEM_SYNC, give_up: bool = False
    ) -> PaymentIntent:
        """Asks the acquirer about an attempt still waiting on it and settles it: a lookup
        for PROCESSING / REQUIRES_ACTION (the UPI poller), the same capture or void again
        for CAPTURE_PENDING / VOID_PENDING. An unanswered lookup changes nothing, unless
        `give_up` (recovery only: see settlement.apply_authorization)."""
        attempt = await self._attempt(attempt_id)
        if attempt.status in (AttemptStatus.PROCESSING, AttemptStatus.REQUIRES_ACTION):
            answer = await self._lookup(self._acquirer_of(attempt), attempt.id)
            intent, attempt = await self._settle_authorization(
                attempt, answer, actor, give_up=give_up
            )
            intent, attempt = await self._continue(intent, attempt, actor)
            return intent
        if attempt.status is AttemptStatus.CAPTURE_PENDING:
            return (await self._run_capture(attempt, actor))[0]
        if attempt.status is AttemptStatus.VOID_PENDING:
            return (await self._run_void(attempt, actor))[0]
        return await self._intent_of(attempt)

    async def _lookup(self, acquirer: Acquirer, attempt_id: str) -> AuthorizationAnswer:
        try:
            result = await acquirer.lookup(attempt_id)
        except AcquirerError:
            return None  # no answer: nothing is known, nothing changes
        return NOT_RECEIVED if result is None else result

    async def _settle_authorization(
        self,
        attempt: PaymentAttempt,
        answer: AuthorizationAnswer,
        actor: str,
        *,
        held: PaymentIntent | None = None,
        give_up: bool = False,
        tries: list[dict[str, str]] | None = None,
        concludes: Conclusion | None = None,
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """Phase 3 of an authorization. `held`: the attempt's intent as this call wrote it
        with `attempt` in phase 1, both at the versions that write returned. The answer is
        then written at those versions with no locking read first; when either moved since
        (a failover's move, recovery, a callback, a cancel), nothing was written, and the
        pair is read locked and the answer applied to it, as without `held`. An answer
        that changes nothing is always applied to the pair read afresh: what it answers is
        the stored state (docs/payments.md, "Confirm without the locking reads")."""
        async with self._uow() as uow:
            if held is not None:
                # When this pair moved, it is left behind: only the ids of `attempt` are
                # read again below.
                try:
                    if await self._apply_authorization(
                        uow, held, attempt, answer, actor, give_up, tries, concludes, held=True
                    ):
                        return held, attempt
                except _Moved:
                    pass
            intent, attempt = await self._locked_pair(uow, attempt)
            await self._apply_authorization(
                uow, intent, attempt, answer, actor, give_up, tries, concludes, held=False
            )
        return intent, attempt

    async def _apply_authorization(
        self,
        uow: UnitOfWork,
        intent: PaymentIntent,
        attempt: PaymentAttempt,
        answer: AuthorizationAnswer,
        actor: str,
        give_up: bool,
        tries: list[dict[str, str]] | None,
        concludes: Conclusion | None,
        *,
        held: bool,
    ) -> bool:
        """Applies `answer` to the pair and commits what changed; whether it wrote. `held`:
        the pair was not read locked, so only a change written with both versions checked
        (the intent's and the attempt's, in one statement) may go on; anything else
        writes nothing and answers False, for the caller to read the pair locked."""
        record_tries = tries is not None and attempt.status is AttemptStatus.PROCESSING
        if record_tries and tries is not None:
            attempt.tries = tries  # saved with the answer, or by itself when unknown
        changed = apply_authorization(
            intent,
            attempt,
            answer,
            policy=self.policy,
            actor=actor,
            at=self._clock.now(),
            give_up=give_up,
        )
        if held and not changed:
            return False
        if changed:
            await self._save(uow, intent, attempt, held=held)
        elif record_tries:
            await uow.payment_attempts.update(attempt)
        if changed or record_tries:
            if attempt.status is not AttemptStatus.CAPTURE_PENDING:  # else: the capture
                _conclude(uow, concludes, intent, attempt)
            await self._commit_held(uow, attempt if changed else None, held=held)
        return True

    async def _continue(
        self,
        intent: PaymentIntent,
        attempt: PaymentAttempt,
        actor: str,
        concludes: Conclusion | None = None,
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """After an approval with capture_method AUTOMATIC: the capture, unless the
        authorization was a sale whose answer carried it (then the attempt is CAPTURED)."""
        if attempt.status is AttemptStatus.CAPTURE_PENDING:
            return await self._run_capture(attempt, actor, concludes)
        return intent, attempt

    # ============================================================ background

    async def recover_stuck_attempts(self, older_than: timedelta, *, limit: int = 100) -> list[str]:
        """Settles attempts left in flight (a crash, a timeout) for longer than `older_than`:
        claims them (SKIP LOCKED, leased for another `older_than`), then syncs each. An
        attempt the acquirer never received fails. Returns the ids it looked at.

        `older_than` must exceed the longest acquirer call, so that no call that could
        still arrive is declared lost.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.payment_attempts.claim_in_flight(now - older_than, now, limit=limit)
            await uow.commit()
        for attempt in claimed:
            try:
                await self.sync_attempt(attempt.id, actor=SYSTEM_RECOVERY, give_up=True)
            except Exception:  # one bad attempt must not stop the batch; it comes back
                log.exception("recovery of attempt %s failed", attempt.id)
        return [a.id for a in claimed]

    async def poll_pending_actions(
        self,
        older_than: timedelta,
        *,
        payment_method_types: Sequence[str] = ("upi",),
        limit: int = 100,
    ) -> list[str]:
        """Asks the acquirer about attempts waiting for the payer (REQUIRES_ACTION) of the
        given payment method types, untouched for `older_than`: the worker's poller, the
        fallback for a completion callback that never came (a UPI switch's), a payer's
        answer on a wallet's or bank's page, a late confirmation. Claims them (SKIP LOCKED,
        leased for another `older_than`), then syncs each; an attempt still pending is
        left as it is and comes back after the lease. Returns the ids it looked at."""
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.payment_attempts.claim_awaiting_action(
                payment_method_types, now - older_than, now, limit=limit
            )
            await uow.commit()
        for attempt in claimed:
            try:
                await self.sync_attempt(attempt.id, actor=SYSTEM_SYNC)
            except Exception:  # one bad attempt must not stop the batch; it comes back
                log.exception("poll of attempt %s failed", attempt.id)
        return [a.id for a in claimed]

    async def expire_unconfirmed(self, *, limit: int = 100) -> list[str]:
        """Cancels (reason EXPIRED) intents still waiting for a payment method or a
        confirmation `policy.unconfirmed_ttl` after they were created. One transaction."""
        now = self._clock.now()
        async with self._uow() as uow:
            intents = await uow.payment_intents.claim_unconfirmed(
                now - self.policy.unconfirmed_ttl, limit=limit
            )
            for intent in intents:
                intent.cancel(CancellationReason.EXPIRED, actor=SYSTEM_EXPIRY, at=now)
            await uow.payment_intents.update_many(intents)
            await self._record(uow, [e for i in intents for e in i.pull_events()])
            await uow.commit()
        return [i.id for i in intents]

    async def void_expired_authorizations(self, *, limit: int = 100) -> list[str]:
        """Voids authorizations not captured by their `capture_before` (authorized +
        policy.authorization_ttl) and cancels the intents (reason VOIDED): phase 1 for the
        whole batch in one transaction, then one void call and settlement per intent."""
        now = self._clock.now()
        async with self._uow() as uow:
            intents = await uow.payment_intents.claim_capture_expired(now, limit=limit)
            attempts = {
                a.id: a
                for a in await uow.payment_attempts.get_many(
                    [i.latest_attempt for i in intents], for_update=True
                )
            }
            voiding, pending = [], []
            for intent in intents:
                attempt = attempts.get(intent.latest_attempt)
                if attempt is None or attempt.status is not AttemptStatus.AUTHORIZED:
                    # Broken data must not stop the voids of every other intent: left
                    # as it is, for a human.
                    log.error(
                        "intent %s is REQUIRES_CAPTURE but its attempt %r is %s: not voided",
                        intent.id,
                        intent.latest_attempt,
                        attempt.status.value if attempt else "missing",
                    )
                    continue
                intent.begin_void(CancellationReason.VOIDED, actor=SYSTEM_EXPIRY, at=now)
                attempt.move(AttemptStatus.VOID_PENDING, now)
                voiding.append(intent)
                pending.append(attempt)
            await uow.payment_intents.update_many(voiding)
            await uow.payment_attempts.update_many(pending)
            await self._record(uow, [e for i in voiding for e in i.pull_events()])
            await uow.commit()
        for attempt in pending:
            try:
                await self._run_void(attempt, SYSTEM_EXPIRY)
            except Exception:  # left VOID_PENDING: recover_stuck_attempts finishes it
                log.exception("void of expired authorization %s failed", attempt.id)
        return [i.id for i in voiding]

    # ================================================================ helpers

    def _acquirer_of(self, attempt: PaymentAttempt) -> Acquirer:
        return self._acquirers.acquirer(attempt.acquirer)

    async def _readable(
        self, caller: Principal, intent_id: str, client_secret: str
    ) -> PaymentIntent:
        intent = None
        if has_prefix(intent_id, "pi"):
            async with self._uow() as uow:
                intent = await uow.payment_intents.get(caller.merchant_id, intent_id)
        # A publishable key reaches an intent only with its client secret; a wrong one
        # looks exactly like a missing intent so that ids cannot be probed; so does
        # another mode's intent.
        if (
            intent is None
            or intent.livemode != caller.livemode
            or (caller.is_publishable and not intent.secret_matches(client_secret))
        ):
            raise _no_such_intent(intent_id)
        return intent

    async def _read_capturable(
        self, caller: Principal, intent_id: str
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """The pair _capturable reads, without locks, in a unit of work of its own."""
        async with self._uow() as uow:
            return await self._capturable(uow, caller, intent_id, lock=False)

    async def _capturable(
        self, uow: UnitOfWork, caller: Principal, intent_id: str, *, lock: bool
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """The intent to capture (refused unless REQUIRES_CAPTURE) and its attempt, read
        locked, in that order, or not (`lock`)."""
        intent = await self._locked_intent(uow, caller, intent_id, lock=lock)
        intent.require("be captured", Status.REQUIRES_CAPTURE)
        return intent, await self._locked_attempt(uow, intent, lock=lock)

    async def _locked_intent(
        self, uow: UnitOfWork, caller: Principal, intent_id: str, *, lock: bool = True
    ) -> PaymentIntent:
        intent = None
        if has_prefix(intent_id, "pi"):
            intent = await uow.payment_intents.get(caller.merchant_id, intent_id, for_update=lock)
        # Another mode's intent does not exist for this caller (docs/dashboard.md).
        if intent is None or intent.livemode != caller.livemode:
            raise _no_such_intent(intent_id)
        return intent

    async def _locked_attempt(
        self, uow: UnitOfWork, intent: PaymentIntent, *, lock: bool = True
    ) -> PaymentAttempt:
        attempt = await uow.payment_attempts.get(intent.latest_attempt, for_update=lock)
        if attempt is None:  # an intent past confirmation always has its attempt
            raise LookupError(f"payment intent {intent.id} lost attempt {intent.latest_attempt}")
        return attempt

    async def _locked_pair(
        self, uow: UnitOfWork, attempt: PaymentAttempt
    ) -> tuple[PaymentIntent, PaymentAttempt]:
        """The attempt's intent and the attempt, locked in that order and read afresh."""
        pair = await uow.payment_attempts.locked_with_intent(attempt.merchant_id, attempt.id)
        if pair is None:
            raise LookupError(f"attempt {attempt.id} or its intent vanished")
        return pair

    async def _attempt(self, attempt_id: str) -> PaymentAttempt:
        attempt = None
        if has_prefix(attempt_id, "pa"):
            async with self._uow() as uow:
                attempt = await uow.payment_attempts.get(attempt_id)
        if attempt is None:
            raise NotFound(
                f"No such payment attempt: {shown(attempt_id)}", metadata={"param": "attempt"}
            )
        return attempt

    async def _intent_of(self, attempt: PaymentAttempt) -> PaymentIntent:
        async with self._uow() as uow:
            intent = await uow.payment_intents.get(attempt.merchant_id, attempt.payment_intent_id)
        if intent is None:
            raise LookupError(f"attempt {attempt.id} has no intent")
        return intent

    async def _save(
        self,
        uow: UnitOfWork,
        intent: PaymentIntent,
        attempt: PaymentAttempt | None = None,
        *,
        new: bool = False,
        held: bool = False,
    ) -> None:
        """The intent with the history lines of its change, and the attempt (`new`: made
        here) with them when given: one write, one statement in SQL. `held`: the rows were
        not read locked, and a version that moved raises _Moved (nothing was written)."""
        events = intent.pull_events()
        try:
            if attempt is None:
                await uow.payment_intents.update(intent, events)
            else:
                attempts = uow.payment_attempts
                write = attempts.add_with_intent if new else attempts.update_with_intent
                await write(attempt, intent, events)
                if not held:  # else: once it committed (_commit_held)
                    self._observer.attempt_saved(attempt)
            await self._books.record(uow, events, Saved(intent, attempt))
        except VersionMoved as moved:
            # A held write may be sent by a later statement (adapters/sql/held.py): its
            # moved version surfaces there, and still wrote nothing.
            if held:
                raise _Moved() from moved
            raise

    async def _commit_held(
        self, uow: UnitOfWork, attempt: PaymentAttempt | None, *, held: bool
    ) -> None:
        """Commits a phase whose write was versioned at the versions held (`held`): a unit
        of work may send that write only now, so a moved version surfaces here, with
        nothing written (_Moved)."""
        try:
            await uow.commit()
        except VersionMoved as moved:
            if held:
                raise _Moved() from moved
            raise
        if held and attempt is not None:
            self._observer.attempt_saved(attempt)

    async def _record(
        self, uow: UnitOfWork, events: Sequence[PaymentEvent], saved: Saved = NOTHING_SAVED
    ) -> None:
        """The events, and the money they moved, in the caller's transaction."""
        await uow.payment_events.append(events)
        await self._books.record(uow, events, saved)


def _conclude(
    uow: UnitOfWork, concludes: Conclusion | None, intent: PaymentIntent, attempt: PaymentAttempt
) -> None:
    if concludes is not None and (answer := concludes(intent, attempt)) is not None:
        uow.conclude(answer)


def _begin_capture(
    intent: PaymentIntent, attempt: PaymentAttempt, amount_to_capture: int, actor: str, at: datetime
) -> None:
    """Phase 1 of a capture on the pair: all of `amount_capturable` unless told."""
    amount = amount_to_capture or intent.amount_capturable
    intent.begin_capture(amount, actor=actor, at=at)
    attempt.begin_capture(amount, at)


def _capture_answer(intent: PaymentIntent, attempt: PaymentAttempt) -> object | None:
    """capture()'s answer: the intent, unless the capture failed (raised)."""
    if attempt.status is AttemptStatus.AUTHORIZED and attempt.error is not None:
        return None
    return intent


def parse_cancellation_reason(value: str) -> CancellationReason | None:
    if not value:
        return None
    try:
        reason = CancellationReason(value.strip().upper())
    except ValueError:
        reason = None
    if reason not in MERCHANT_CANCELLATION_REASONS:
        choices = ", ".join(sorted(r.value for r in MERCHANT_CANCELLATION_REASONS))
        raise InvalidArgument.field("cancellation_reason", f"must be one of {choices}")
    return reason


def _no_such_intent(intent_id: str) -> NotFound:
    return NotFound(f"No such payment intent: {shown(intent_id)}", metadata={"param": "id"})
