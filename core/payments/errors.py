"""How a failed payment attempt answers the call that made it.

    FailedPrecondition                     (core.shared.errors)
    └── PaymentFailed                      reason = last_payment_error.code:
                                           CARD_DECLINED, PAYMENT_DECLINED, PROCESSING_ERROR,
                                           RISK_BLOCKED, PAYMENT_METHOD_UNSUPPORTED, ...
    Unavailable
    └── AcquirerUnavailableError           ACQUIRER_UNAVAILABLE: nothing was sent; retry

Metadata always names the intent (`payment_intent`) and the attempt (`attempt`); a decline
adds `decline_code` (insufficient_funds, ...) and PROCESSING_ERROR adds `retryable: true`.
The intent itself has moved back to REQUIRES_PAYMENT_METHOD with the same
last_payment_error, so a client that re-reads it learns the same thing.
"""

from __future__ import annotations

from core.payments.model import ErrorCode, PaymentError
from core.shared.errors import FailedPrecondition, Unavailable
from core.shared.redaction import mask_pans


class PaymentFailed(FailedPrecondition):
    default_reason = ErrorCode.CARD_DECLINED.value

    @classmethod
    def of(cls, error: PaymentError, *, intent_id: str, attempt_id: str) -> PaymentFailed:
        metadata = {"payment_intent": intent_id, "attempt": attempt_id}
        if error.decline_code:
            metadata["decline_code"] = error.decline_code
        if error.code == ErrorCode.PROCESSING_ERROR:
            metadata["retryable"] = "true"
        return cls(error.message or "The payment failed.", reason=error.code, metadata=metadata)


class AcquirerUnavailableError(Unavailable):
    default_reason = ErrorCode.ACQUIRER_UNAVAILABLE.value


def shown(value: str) -> str:
    """A caller's id quoted back in a message: cut short, and never a card number (a PAN
    pasted into an id field would otherwise land in the error and in logs)."""
    return repr(mask_pans(value[:40]))
