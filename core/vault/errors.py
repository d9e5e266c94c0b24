"""The vault's errors, as subclasses of the shared ones (servers map the base classes).

    PaygateError
    ├── InvalidArgument            card fields: reasons INVALID_NUMBER, INVALID_EXPIRY,
    │                              INVALID_CVC (raised by core.vault.cards, no subclass)
    ├── FailedPrecondition
    │   ├── TokenAlreadyUsed       TOKEN_ALREADY_USED: a single-use token seen twice
    │   ├── TokenExpired           TOKEN_EXPIRED: older than its 15 minutes
    │   ├── TokenRevoked           TOKEN_REVOKED
    │   └── PaymentMethodRevoked   PAYMENT_METHOD_REVOKED
    └── Unavailable
        └── KeyUnavailable         VAULT_KEY_UNAVAILABLE: the KEK or KMS did not answer

    Exception
    └── CiphertextRejected         stored card data that does not decrypt: tampered,
                                   copied to another row or merchant, corrupt, or its
                                   data key is missing. Deliberately NOT a PaygateError:
                                   it is nobody's input error and nothing to retry, so it
                                   takes the servers' unmapped-exception path (logged with
                                   its traceback, a bare INTERNAL to the client) and
                                   should page someone.

No message here ever contains a card number, a CVC or key material: messages name the
object by its id only.
"""

from __future__ import annotations

from core.shared.errors import FailedPrecondition, Unavailable

# Reasons of the InvalidArgument errors card validation raises.
INVALID_NUMBER = "INVALID_NUMBER"
INVALID_EXPIRY = "INVALID_EXPIRY"
INVALID_CVC = "INVALID_CVC"


class TokenAlreadyUsed(FailedPrecondition):
    default_reason = "TOKEN_ALREADY_USED"


class TokenExpired(FailedPrecondition):
    default_reason = "TOKEN_EXPIRED"


class TokenRevoked(FailedPrecondition):
    default_reason = "TOKEN_REVOKED"


class PaymentMethodRevoked(FailedPrecondition):
    default_reason = "PAYMENT_METHOD_REVOKED"


class KeyUnavailable(Unavailable):
    default_reason = "VAULT_KEY_UNAVAILABLE"


class CiphertextRejected(Exception):
    """One error for every decryption failure, without detail: no decryption oracle."""

    def __init__(self, message: str = "Stored card data could not be decrypted.") -> None:
        super().__init__(message)
