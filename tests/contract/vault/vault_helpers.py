"""Builders shared by the vault's contract tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import AesGcmKeyWrapper
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.system import RandomIds
from core.access.model import Principal
from core.access.roles import Role
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.model import CardForAuthorization, KeyMaterial, RotationPolicy, Token
from core.vault.ports import CvcStore, KeyWrapper, VaultUnitOfWorkFactory
from core.vault.read_tokens import ReadTokens
from core.vault.use_cases import Vault
from tests.unit.vault.fakes import FINGERPRINT_KEY, KEK, FakeClock

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
_ids = RandomIds()


def local_kek(keks: dict[str, KeyMaterial] | None = None, current: str = "kek-1") -> KeyWrapper:
    return AesGcmKeyWrapper(keks or {"kek-1": KEK}, current=current)


def card(number: str = VISA, cvc: str = "737", name: str = "Jenny Rosen") -> CardInput:
    return CardInput(Secret(number), exp_month=12, exp_year=2030, cvc=Secret(cvc), name=name)


def new_principal(*, livemode: bool = False) -> Principal:
    return Principal(
        merchant_id=_ids.new("acct"), livemode=livemode, actor="key_contract", role=Role.OWNER
    )


@dataclass
class VaultHarness:
    vault: Vault
    uow: VaultUnitOfWorkFactory
    clock: FakeClock
    cvcs: CvcStore
    cipher: AesGcmCipher
    read: ReadTokens
    merchant: Principal = field(default_factory=new_principal)
    other: Principal = field(default_factory=new_principal)

    async def tokenize(
        self, number: str = VISA, cvc: str = "737", who: Principal | None = None
    ) -> Token:
        return await self.vault.tokenize_card(who or self.merchant, card(number, cvc))

    async def pay(self, payment_method: str, who: Principal | None = None) -> CardForAuthorization:
        caller = who or self.merchant
        return await self.vault.detokenize_for_payment(
            caller.merchant_id,
            payment_method,
            purpose="authorize pa_contract",
            actor="in-process:payments",
            livemode=caller.livemode,
        )

    async def describe(self, payment_method: str, who: Principal | None = None) -> None:
        caller = who or self.merchant
        await self.vault.describe_for_payment(
            caller.merchant_id, payment_method, livemode=caller.livemode
        )


def make_harness(
    uow: VaultUnitOfWorkFactory,
    *,
    clock: FakeClock | None = None,
    kek: KeyWrapper | None = None,
    cvcs: CvcStore | None = None,
    rotation: RotationPolicy | None = None,
) -> VaultHarness:
    clock = clock or FakeClock()
    cvcs = cvcs or MemoryCvcStore(clock)
    cipher = AesGcmCipher()
    read = ReadTokens(clock)
    vault = Vault(
        uow,
        cipher=cipher,
        key_wrapper=kek or local_kek(),
        fingerprinter=HmacFingerprinter(FINGERPRINT_KEY),
        cvc_store=cvcs,
        ids=_ids,
        clock=clock,
        rotation=rotation,
        read_tokens=read,
    )
    return VaultHarness(vault, uow, clock, cvcs, cipher, read)
