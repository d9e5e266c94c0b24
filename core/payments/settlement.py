"""What an acquirer's answer does to an intent and its attempt: the third phase, pure.

Every function here takes the intent and the attempt as loaded (and locked) in the
settling transaction, applies one answer, and says whether anything changed. They are
idempotent: an answer for an attempt that is no longer waiting for it changes nothing, so
the confirming request, the UPI poller and the recovery worker may all settle the same
attempt, in any order, and the first one wins.

An answer is an AuthorizationResult / OperationResult, an AcquirerRejected (a definitive
refusal), NOT_RECEIVED (a lookup said the acquirer never got the attempt), or None: no
answer at all (a timeout, an unreachable acquirer). An approval that carries a sale's
capture (AuthorizationResult.capture) settles the authorization and then that capture,
in the same transaction, exactly as a capture call's answer would.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from core.payments.acquirer import (
    AcquirerRejected,
    AuthorizationOutcome,
    AuthorizationResult,
    InvalidPaymentDetails,
    OperationKind,
    OperationResult,
    OperationStatus,
    RejectionCode,
)
from core.payments.model import (
    AttemptStatus,
    ErrorCode,
    PaymentAttempt,
    PaymentError,
    PaymentIntent,
    PaymentPolicy,
    Refund,
    RefundStatus,
    Status,
)
from core.shared.money import Money

Out = AuthorizationOutcome


class Lookup(Enum):
    NOT_RECEIVED = "NOT_RECEIVED"  # the acquirer has no record of the reference


NOT_RECEIVED = Lookup.NOT_RECEIVED
AuthorizationAnswer = AuthorizationResult | AcquirerRejected | Lookup | None

_DECLINE_MESSAGES = {
    "card": "Your card was declined.",
    "upi": "The UPI payment was declined.",
    "wallet": "The wallet payment was declined.",
    "netbanking": "The net banking payment was declined.",
}
NEVER_REACHED = PaymentError(
    ErrorCode.ACQUIRER_UNAVAILABLE,
    message="The payment never reached the acquirer; nothing was charged. Try again.",
)


def rejection_error(rejected: AcquirerRejected) -> PaymentError:
    """A definitive refusal of the authorization request itself."""
    if isinstance(rejected, InvalidPaymentDetails):
        return PaymentError(ErrorCode.INVALID_PAYMENT_DETAILS, message=rejected.message)
    if rejected.code in (
        RejectionCode.UNSUPPORTED_PAYMENT_SOURCE,
        RejectionCode.CURRENCY_NOT_SUPPORTED,
    ):
        return PaymentError(ErrorCode.PAYMENT_METHOD_UNSUPPORTED, message=rejected.message)
    return PaymentError(
        ErrorCode.PROCESSING_ERROR,
        decline_code="processing_error",
        message="The acquirer refused the payment request.",
    )


def outcome_error(result: AuthorizationResult, payment_method_type: str) -> PaymentError:
    """last_payment_error of an attempt that ended in a failed outcome."""
    decline_code = result.decline_code.value if result.decline_code else ""
    if result.outcome is Out.DECLINED:
        code = (
            ErrorCode.CARD_DECLINED if payment_method_type == "card" else ErrorCode.PAYMENT_DECLINED
        )
        message = result.message or _DECLINE_MESSAGES.get(payment_method_type, "Declined.")
        return PaymentError(code, decline_code or "generic_decline", message)
    if result.outcome is Out.RISK_BLOCKED:
        return PaymentError(
            ErrorCode.RISK_BLOCKED,
            decline_code,
            "The payment was blocked as likely fraudulent.",
        )
    if result.outcome is Out.CANCELED:
        return PaymentError(ErrorCode.PAYMENT_CANCELED, "", result.message or "Canceled.")
    return PaymentError(
        ErrorCode.PROCESSING_ERROR,
        decline_code or "processing_error",
        result.message or "An error occurred while processing the payment. Try again.",
    )


def _record_acquirer(attempt: PaymentAttempt, result: AuthorizationResult) -> None:
    attempt.acquirer_reference = result.acquirer_reference or attempt.acquirer_reference
    attempt.acquirer_code = result.acquirer_code
    attempt.authorization_code = result.authorization_code


def fail_attempt(
    intent: PaymentIntent,
    attempt: PaymentAttempt,
    error: PaymentError,
    *,
    actor: str,
    at: datetime,
) -> None:
    attempt.fail(error, at)
    intent.attempt_failed(error, actor=actor, at=at)


def apply_authorization(
    intent: PaymentIntent,
    attempt: PaymentAttempt,
    answer: AuthorizationAnswer,
    *,
    policy: PaymentPolicy,
    actor: str,
    at: datetime,
    give_up: bool = False,
) -> bool:
    """Settles an attempt waiting for its authorization (PROCESSING or REQUIRES_ACTION).

    NOT_RECEIVED fails the attempt only with `give_up`: when no call that is still on its
    way could reach the acquirer after the lookup. Only recovery, after a delay far longer
    than any call's timeout, may say that.
    """
    if attempt.status not in (AttemptStatus.PROCESSING, AttemptStatus.REQUIRES_ACTION):
        return False
    if answer is None:
        return False
    if answer is NOT_RECEIVED:
        if give_up and attempt.status is AttemptStatus.PROCESSING:
            fail_attempt(intent, attempt, NEVER_REACHED, actor=actor, at=at)
            return True
        return False
    if isinstance(answer, AcquirerRejected):
        fail_attempt(intent, attempt, rejection_error(answer), actor=actor, at=at)
        return True

    result = answer
    if result.outcome is Out.PENDING:
        return False
    if result.outcome is Out.REQUIRES_ACTION:
        if attempt.status is AttemptStatus.REQUIRES_ACTION or result.next_action is None:
            return False
        _record_acquirer(attempt, result)
        attempt.next_action = result.next_action
        attempt.move(AttemptStatus.REQUIRES_ACTION, at)
        intent.action_required(result.next_action, actor=actor, at=at)
        return True
    _record_acquirer(attempt, result)
    if result.outcome is Out.APPROVED:
        amount = attempt.amount
        automatic = intent.capture_method.value == "AUTOMATIC"
        attempt.authorize(amount, at, automatic=automatic)
        intent.authorized(amount, policy=policy, actor=actor, at=at)
        if result.capture is not None and _is_the_sales_capture(attempt, result.capture):
            apply_capture(
                intent, attempt, attempt.capture_reference, result.capture, actor=actor, at=at
            )
        return True
    fail_attempt(
        intent, attempt, outcome_error(result, attempt.payment_method_type), actor=actor, at=at
    )
    return True


def _is_the_sales_capture(attempt: PaymentAttempt, capture: OperationResult) -> bool:
    """Whether a sale's answer captured what the attempt, now CAPTURE_PENDING, is about to
    capture: its reference and its whole amount. Anything else is left to the capture
    call, whose reference (the same) makes it idempotent at the acquirer."""
    return (
        attempt.status is AttemptStatus.CAPTURE_PENDING
        and capture.kind is OperationKind.CAPTURE
        and capture.attempt_reference == attempt.id
        and capture.reference == attempt.capture_reference
        and capture.amount == Money(attempt.amount_to_capture, attempt.currency)
    )


def apply_capture(
    intent: PaymentIntent,
    attempt: PaymentAttempt,
    capture_reference: str,
    answer: OperationResult | AcquirerRejected | None,
    *,
    actor: str,
    at: datetime,
) -> bool:
    """Settles the capture `capture_reference` of a CAPTURE_PENDING attempt."""
    if (
        attempt.status is not AttemptStatus.CAPTURE_PENDING
        or attempt.capture_reference != capture_reference
        or answer is None
    ):
        return False
    if isinstance(answer, OperationResult):
        if answer.status is OperationStatus.PENDING:
            return False
        if answer.status is OperationStatus.SUCCEEDED:
            intent.captured(attempt.captured(at), actor=actor, at=at)
            return True
        detail = answer.failure_code.value if answer.failure_code else "generic_decline"
        error = PaymentError(ErrorCode.CAPTURE_FAILED, detail, "The acquirer refused the capture.")
    else:
        error = PaymentError(ErrorCode.CAPTURE_FAILED, answer.code.value, answer.message)
    attempt.capture_failed(error, at)
    intent.capture_failed(error, actor=actor, at=at)
    return True


def apply_void(
    intent: PaymentIntent,
    attempt: PaymentAttempt,
    answer: OperationResult | AcquirerRejected | None,
    *,
    actor: str,
    at: datetime,
) -> PaymentError | None:
    """Settles the void of a VOID_PENDING attempt; returns the error when it was refused
    (the intent is then back where it was: REQUIRES_CAPTURE or REQUIRES_ACTION)."""
    if attempt.status is not AttemptStatus.VOID_PENDING or answer is None:
        return None
    if isinstance(answer, OperationResult):
        if answer.status is OperationStatus.PENDING:
            return None
        if answer.status is OperationStatus.SUCCEEDED:
            attempt.move(AttemptStatus.VOIDED, at)
            intent.voided(actor=actor, at=at)
            return None
        detail = answer.failure_code.value if answer.failure_code else "generic_decline"
        error = PaymentError(ErrorCode.CANCEL_FAILED, detail, "The acquirer refused the void.")
    else:
        error = PaymentError(ErrorCode.CANCEL_FAILED, answer.code.value, answer.message)
    attempt.void_failed(at)
    back_to = Status.REQUIRES_CAPTURE if attempt.was_authorized else Status.REQUIRES_ACTION
    intent.void_failed(back_to, attempt.next_action, actor=actor, at=at)
    return error


def apply_refund(
    intent: PaymentIntent,
    refund: Refund,
    answer: OperationResult | AcquirerRejected | None,
    *,
    actor: str,
    at: datetime,
) -> bool:
    """Settles a PENDING refund; a failed one gives its amount back to the intent."""
    if refund.status is not RefundStatus.PENDING or answer is None:
        return False
    if isinstance(answer, OperationResult):
        if answer.status is OperationStatus.PENDING:
            return False
        if answer.status is OperationStatus.SUCCEEDED:
            refund.settle(RefundStatus.SUCCEEDED, at, acquirer_reference=answer.acquirer_reference)
        else:
            code = answer.failure_code.value if answer.failure_code else "generic_decline"
            refund.settle(
                RefundStatus.FAILED,
                at,
                acquirer_reference=answer.acquirer_reference,
                failure_code=code,
            )
    else:
        refund.settle(RefundStatus.FAILED, at, failure_code=answer.code.value)
    intent.refund_settled(refund, actor=actor, at=at)
    return True
