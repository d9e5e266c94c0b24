"""The vault in this process (embedded mode): CardVault (for the cardholder-data zone) and
CardProfiles (for the application zone) straight onto the Vault use-cases.

The public operations need no adapter in embedded mode: core.vault.use_cases.Vault is a
VaultApi itself.
"""

from __future__ import annotations

from adapters.vault.wire import card_for_payment, card_profile
from core.payments.ports import CardForPayment, CardProfile
from core.vault.use_cases import Vault

IN_PROCESS_ACTOR = "in-process:payments"


class InProcessCardVault:
    def __init__(self, vault: Vault, *, actor: str = IN_PROCESS_ACTOR) -> None:
        self._vault = vault
        self._actor = actor

    async def card_for_payment(
        self,
        merchant_id: str,
        payment_method: str,
        *,
        livemode: bool,
        purpose: str,
    ) -> CardForPayment:
        """See core.payments.ports.CardVault."""
        card = await self._vault.detokenize_for_payment(
            merchant_id, payment_method, purpose=purpose, actor=self._actor, livemode=livemode
        )
        return card_for_payment(card)

    async def card_profile(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardProfile:
        """See core.payments.ports.CardProfiles."""
        description = await self._vault.describe_for_payment(
            merchant_id, payment_method, livemode=livemode
        )
        return card_profile(description)
