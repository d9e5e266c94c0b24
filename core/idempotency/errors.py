"""The two refusals of the idempotency layer; both are raised before anything runs."""

from __future__ import annotations

from core.shared.errors import Conflict, FieldViolation, InvalidArgument

FIELD = "idempotency_key"


class IdempotencyKeyReused(InvalidArgument):
    """The key was already used for a request with other parameters (HTTP 400).

    INVALID_ARGUMENT, like Stripe's 400 idempotency_error: retrying cannot help, the
    client must send the original request or pick a new key.
    """

    def __init__(self) -> None:
        super().__init__(
            [
                FieldViolation(
                    FIELD,
                    "was already used with different parameters; reuse a key only to retry "
                    "the identical request",
                )
            ],
            reason="IDEMPOTENCY_KEY_REUSED",
        )


class IdempotencyKeyInUse(Conflict):
    """A request with the same key and parameters is still running (ABORTED, HTTP 409)."""

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still in progress; retry it shortly "
            "to get its result.",
            reason="IDEMPOTENCY_KEY_IN_USE",
            metadata={"param": FIELD},
        )
