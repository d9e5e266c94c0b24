"""The port through which the payments core gets a card for one authorization.

Kept in its own module so that it merges cleanly with core/payments/ports.py; it may move
there (same shape). Implemented by adapters/vault/in_process.py (embedded mode: calls the
vault's use-cases in this process) and adapters/vault/grpc_client.py (split mode: calls
the vault role over VaultInternalService with the service credential).

Contract (tests/contract/vault/test_card_vault_contract.py runs it against both):
- a `tok_...` is single use: the first call consumes it, a second raises
  FailedPrecondition with reason TOKEN_ALREADY_USED (core.vault.errors.TokenAlreadyUsed);
- a `pm_...` is reusable: every call returns the card (its CVC, if any, only once);
- an unknown id, another merchant's, or anything that is no tok_/pm_ id raises NotFound
  with metadata param=payment_method;
- an expired token raises FailedPrecondition TOKEN_EXPIRED, a revoked payment method
  PAYMENT_METHOD_REVOKED; a vault that cannot be reached raises Unavailable;
- every call, granted or refused, leaves a record in the vault's detokenization audit,
  with `purpose` as given (say which attempt it is for: "authorize pa_...").

The returned Card holds the PAN and CVC as core.shared.secret.Secret: hand it to the
acquirer and drop it; never log it, store it, or put it into an event.
"""

from __future__ import annotations

from typing import Protocol

from core.payments.acquirer import Card


class CardVault(Protocol):
    async def card_for_payment(
        self, merchant_id: str, payment_method: str, *, purpose: str
    ) -> Card: ...
