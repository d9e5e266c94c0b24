"""An in-memory CardVault: the fake the payments tests (and the in-memory app) run against.

It knows only the cards registered with it, by `add_token` (single-use `tok_...`) and
`add_payment_method` (reusable `pm_...`). Card numbers live in this process's memory only,
as Secrets. The real vault (core/vault, adapters/crypto, SQL) implements the same port and
passes the same contract tests (tests/contract/test_card_vault_contract.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.system import RandomIds
from core.payments.acquirer import Card
from core.payments.ports import CardForPayment, CardVault
from core.shared.errors import FailedPrecondition, NotFound
from core.shared.redaction import mask_pans
from core.shared.secret import Secret
from core.vault.model import Pan


@dataclass
class _Entry:
    merchant_id: str
    livemode: bool
    card: Card
    single_use: bool
    used: bool = False


class MemoryCardVault:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._ids = RandomIds()
        self._lock = asyncio.Lock()
        self._fingerprint_key = secrets.token_bytes(32)
        self.purposes: list[str] = []  # what each card was handed out for (audit trail)

    # --- test helpers ------------------------------------------------------------------

    def add_token(
        self,
        merchant_id: str,
        number: str,
        *,
        exp_month: int = 12,
        exp_year: int = 2034,
        cvc: str | None = "123",
        livemode: bool = False,
    ) -> str:
        """Registers a card and returns a single-use token for it."""
        return self._add("tok", merchant_id, number, exp_month, exp_year, cvc, livemode, True)

    def add_payment_method(
        self,
        merchant_id: str,
        number: str,
        *,
        exp_month: int = 12,
        exp_year: int = 2034,
        livemode: bool = False,
    ) -> str:
        """Registers a card and returns a reusable payment method for it (no CVC kept)."""
        return self._add("pm", merchant_id, number, exp_month, exp_year, None, livemode, False)

    def _add(
        self,
        prefix: str,
        merchant_id: str,
        number: str,
        exp_month: int,
        exp_year: int,
        cvc: str | None,
        livemode: bool,
        single_use: bool,
    ) -> str:
        brand = _brand(number)
        card = Card(
            number=Secret(number),
            exp_month=exp_month,
            exp_year=exp_year,
            brand=brand,
            cvc=Secret(cvc) if cvc else None,
        )
        object_id = self._ids.new(prefix)
        self._entries[object_id] = _Entry(merchant_id, livemode, card, single_use)
        return object_id

    # --- the port ----------------------------------------------------------------------

    async def card_for_payment(
        self, merchant_id: str, payment_method: str, *, livemode: bool, purpose: str
    ) -> CardForPayment:
        async with self._lock:  # check-and-consume is one step, as a row lock makes it
            entry = self._entries.get(payment_method)
            if entry is None or entry.merchant_id != merchant_id or entry.livemode != livemode:
                raise NotFound(
                    f"No such payment method: {mask_pans(payment_method[:40])!r}",
                    metadata={"param": "payment_method"},
                )
            if entry.single_use:
                if entry.used:
                    raise FailedPrecondition(
                        f"Token {payment_method} has already been used; a token can be used "
                        "once. Create a new token, or a payment method for repeated use.",
                        reason="TOKEN_ALREADY_USED",
                    )
                entry.used = True
            self.purposes.append(purpose)
            card = entry.card
        material = f"{merchant_id}|{card.number.reveal()}".encode()
        fingerprint = hmac.new(self._fingerprint_key, material, hashlib.sha256).hexdigest()[:16]
        pan = Pan(card.number.reveal())
        return CardForPayment(
            card=card, fingerprint=fingerprint, bin=pan.bin, test_card=pan.published_test_card
        )


def _brand(number: str) -> str:
    """Enough of a BIN table for test cards (the real vault has core.vault.bin_table)."""
    if number.startswith(("34", "37")):
        return "amex"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith("4"):
        return "visa"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


if TYPE_CHECKING:  # mypy proves the fake fits the port
    _port: CardVault = MemoryCardVault()
