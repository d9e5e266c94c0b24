"""The card's profile handed from the zone's tokenization to the confirm that pays with it.

In split mode (the vault role in its own process) the confirm needs the profile of the
card behind a `tok_` (brand, last four, first six, fingerprint, funding, country: what
core.payments.ports.CardProfile holds, never the number) before routing and the risk
rules, and asking the vault role for it (DescribeForPayment) is one API -> zone round trip
per payment. The vault role's token service, which has the card in hand when it
tokenizes, hands the profile over instead (ProfileHandingVault, wired in
servers/roles/vault/tokens.py), and the API's vault client takes it (GrpcVault,
`profiles=`) once: `take` removes it. Anything else is the round trip as before: a saved
card (`pm_`), a profile that is not there (expired with its token, taken by an earlier
confirm, the store down) or that names another merchant or mode. So a token used or
expired is still refused by DescribeForPayment before any attempt is written, and the
zone checks the token again when it takes the card out of the vault.

The store holds nothing the application zone does not get from DescribeForPayment, under
a digest of the token id (the id itself appears in no store outside the vault), for the
token's remaining lifetime.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from adapters.vault.wire import card_profile
from core.access.model import Principal
from core.payments.ports import CardProfile
from core.shared.pagination import Page
from core.shared.ports import Clock
from core.vault.cards import CardInput, card_digits
from core.vault.model import CardDescription, Pan, PaymentMethod, Token
from core.vault.ports import VaultApi


@dataclass(frozen=True)
class HandedOff:
    """A profile as the store keeps it: whose token it is, and in which mode."""

    merchant_id: str
    livemode: bool
    profile: CardProfile


class ProfileHandoff(Protocol):
    """tests/contract/test_profile_handoff_contract.py is what every implementation does.
    Neither method raises for an unavailable store: the handoff is a shortcut only."""

    async def put(self, token_id: str, handed: HandedOff, *, expires_at: datetime) -> None:
        """Keeps `handed` for `token_id` until `expires_at` (nothing when it is past)."""
        ...

    async def take(self, token_id: str) -> HandedOff | None:
        """The profile kept for `token_id`, removed: a second take gets None."""
        ...


def handoff_key(token_id: str) -> str:
    return hashlib.sha256(token_id.encode()).hexdigest()


class MemoryProfileHandoff:
    """ProfileHandoff in one process's memory (tests; one process has no hop to save)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[datetime, HandedOff]] = {}

    async def put(self, token_id: str, handed: HandedOff, *, expires_at: datetime) -> None:
        if expires_at > self._clock.now():
            self._kept[handoff_key(token_id)] = (expires_at, handed)

    async def take(self, token_id: str) -> HandedOff | None:
        kept = self._kept.pop(handoff_key(token_id), None)
        if kept is None or kept[0] <= self._clock.now():
            return None
        return kept[1]


async def handed_off_profile(
    handoff: ProfileHandoff, merchant_id: str, payment_method: str, *, livemode: bool
) -> CardProfile | None:
    """The handed-off profile of a `tok_` of this merchant and mode, else None."""
    if not payment_method.startswith("tok_"):
        return None
    handed = await handoff.take(payment_method)
    if handed is None or (handed.merchant_id, handed.livemode) != (merchant_id, livemode):
        return None
    return handed.profile


class ProfileHandingVault:
    """The vault's public operations, handing each new token's card profile over."""

    def __init__(self, vault: VaultApi, handoff: ProfileHandoff) -> None:
        self._vault = vault
        self._handoff = handoff

    async def tokenize_card(self, caller: Principal, card: CardInput) -> Token:
        token = await self._vault.tokenize_card(caller, card)
        pan = Pan(card_digits(card.number.reveal()))
        # The very profile DescribeForPayment would answer for this token.
        described = CardDescription(token.card, pan.bin, pan.published_test_card)
        handed = HandedOff(token.merchant_id, token.livemode, card_profile(described))
        await self._handoff.put(token.id, handed, expires_at=token.expires_at)
        return token

    async def create_payment_method_from_token(
        self, caller: Principal, token_id: str, *, customer_id: str = ""
    ) -> PaymentMethod:
        return await self._vault.create_payment_method_from_token(
            caller, token_id, customer_id=customer_id
        )

    async def get_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        return await self._vault.get_payment_method(caller, method_id)

    async def list_payment_methods(
        self,
        caller: Principal,
        *,
        customer_id: str = "",
        limit: int = 0,
        starting_after: str = "",
    ) -> Page[PaymentMethod]:
        return await self._vault.list_payment_methods(
            caller, customer_id=customer_id, limit=limit, starting_after=starting_after
        )

    async def revoke_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        return await self._vault.revoke_payment_method(caller, method_id)
