"""Key rotation: re-wrap data keys under the current KEK, retire every merchant's active data
key, re-encrypt what old data keys sealed. `paygate vault rotate` runs it
(servers/cli/vault_rotate.py) while the gateway keeps serving.

Why it is safe to run at any time, from any number of processes at once:
- Old data keys stay readable throughout: a ciphertext names its key in its header, and a
  retired key keeps decrypting (it only stops encrypting). Old KEKs stay configured until
  the job reports nothing left to re-wrap.
- Rows are claimed in batches with FOR UPDATE SKIP LOCKED: two jobs share the work, and a
  row a payment holds (a token being consumed) is skipped, not waited for; the payment
  erases it or the next pass takes it.
- Each batch is one transaction: a row is re-encrypted, saved with a bumped version and
  counted against the new key's usage, or nothing happens to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.vault.keyring import Keyring, SealingKey
from core.vault.model import CipherContext, PaymentMethod, Token
from core.vault.ports import VaultUnitOfWork, VaultUnitOfWorkFactory

DEFAULT_BATCH = 200


@dataclass
class RotationReport:
    keys_rewrapped: int = 0
    keys_retired: int = 0
    merchants: int = 0
    tokens_reencrypted: int = 0
    payment_methods_reencrypted: int = 0
    # Rows still under an old data key after the pass (held by a payment at the time, or
    # sealed by another process between the claim and the count): run another pass.
    remaining: int = 0

    def add(self, other: RotationReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class KeyRotation:
    def __init__(
        self, uow: VaultUnitOfWorkFactory, keyring: Keyring, *, batch_size: int = DEFAULT_BATCH
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        self._uow = uow
        self._keyring = keyring
        self._batch = batch_size

    async def run(self, *, retire_active_keys: bool) -> RotationReport:
        """One pass over every merchant: re-wrap, optionally retire, re-encrypt."""
        report = RotationReport(keys_rewrapped=await self.rewrap_data_keys())
        after: str | None = None
        while True:
            async with self._uow() as uow:
                merchants = await uow.data_keys.merchants(limit=self._batch, starting_after=after)
            for merchant_id in merchants:
                report.add(await self.rotate_merchant(merchant_id, retire=retire_active_keys))
            if len(merchants) < self._batch:
                return report
            after = merchants[-1]

    async def rewrap_data_keys(self) -> int:
        """Data keys wrapped by an older KEK, wrapped again by the current one."""
        done = 0
        while True:
            async with self._uow() as uow:
                keys = await uow.data_keys.wrapped_by_other_keks(
                    self._keyring.kek_id, limit=self._batch
                )
                for key in keys:
                    await self._keyring.rewrap(key)
                    await uow.data_keys.update(key)
                await uow.commit()
            done += len(keys)
            if len(keys) < self._batch:
                return done

    async def rotate_merchant(self, merchant_id: str, *, retire: bool) -> RotationReport:
        report = RotationReport(merchants=1)
        if retire and await self._keyring.retire_active(merchant_id):
            report.keys_retired = 1
        sealing = await self._keyring.sealing_key(merchant_id)  # a new version if retired
        current = sealing.key.id
        while True:
            async with self._uow() as uow:
                tokens = await uow.tokens.sealed_under_other_keys(
                    merchant_id, current, limit=self._batch
                )
                for token in tokens:
                    await self._reseal_token(uow, token, sealing)
                methods = await uow.payment_methods.sealed_under_other_keys(
                    merchant_id, current, limit=self._batch
                )
                for method in methods:
                    await self._reseal_method(uow, method, sealing)
                if tokens or methods:
                    await uow.data_keys.count_encryptions(current, len(tokens) + len(methods))
                await uow.commit()
            report.tokens_reencrypted += len(tokens)
            report.payment_methods_reencrypted += len(methods)
            if len(tokens) < self._batch and len(methods) < self._batch:
                break
        async with self._uow() as uow:
            report.remaining = await uow.tokens.count_sealed_under_other_keys(
                merchant_id, current
            ) + await uow.payment_methods.count_sealed_under_other_keys(merchant_id, current)
        return report

    async def _reseal_token(self, uow: VaultUnitOfWork, token: Token, sealing: SealingKey) -> None:
        if token.encrypted_card is None:
            return
        context = CipherContext(token.merchant_id, token.id)
        plaintext = await self._keyring.open(uow, token.encrypted_card.ciphertext, context)
        token.encrypted_card = self._keyring.seal(plaintext, sealing, context)
        await uow.tokens.update(token)

    async def _reseal_method(
        self, uow: VaultUnitOfWork, method: PaymentMethod, sealing: SealingKey
    ) -> None:
        if method.encrypted_card is None:
            return
        context = CipherContext(method.merchant_id, method.id)
        plaintext = await self._keyring.open(uow, method.encrypted_card.ciphertext, context)
        method.encrypted_card = self._keyring.seal(plaintext, sealing, context)
        await uow.payment_methods.update(method)
