"""The vault's key handling, shared by the use-cases and the rotation job.

For every encryption:
1. `sealing_key` reads the merchant's newest data key. When it has none, or the rotation
   policy says it is spent (age, usage, retired), a new version is generated and wrapped
   by the KEK OUTSIDE any transaction (a KMS is a network call), then inserted in a short
   transaction that also retires the old one. Two processes rotating at once collide on
   (merchant, version): the loser rereads and uses the winner's key.
2. `seal` encrypts under that key with AES-GCM, bound to (merchant, record id); the caller
   writes the row together with the key's encryption count (an atomic increment).

`open` reads the key id/version from the ciphertext header, loads that data key (a retired
one too, but only the merchant's own) and unwraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.shared.errors import Conflict
from core.shared.ports import Clock, IdGenerator
from core.vault.errors import CiphertextRejected
from core.vault.model import (
    CipherContext,
    DataKey,
    DataKeyRef,
    EncryptedCard,
    KeyMaterial,
    RotationPolicy,
    next_data_key_version,
)
from core.vault.ports import Cipher, KeyWrapper, VaultUnitOfWork, VaultUnitOfWorkFactory

_ROTATION_ATTEMPTS = 3


@dataclass(frozen=True)
class SealingKey:
    """A merchant's active data key with its unwrapped material, for one use-case call."""

    key: DataKey
    material: KeyMaterial = field(repr=False)


class Keyring:
    def __init__(
        self,
        uow: VaultUnitOfWorkFactory,
        *,
        cipher: Cipher,
        key_wrapper: KeyWrapper,
        ids: IdGenerator,
        clock: Clock,
        rotation: RotationPolicy | None = None,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._kek = key_wrapper
        self._ids = ids
        self._clock = clock
        self.rotation = rotation or RotationPolicy()

    @property
    def kek_id(self) -> str:
        return self._kek.kek_id

    async def sealing_key(self, merchant_id: str) -> SealingKey:
        """The data key new ciphertexts of this merchant go under, rotating when due."""
        for _ in range(_ROTATION_ATTEMPTS):
            async with self._uow() as uow:
                current = await uow.data_keys.latest(merchant_id)
            now = self._clock.now()
            if current is not None and self.rotation.reason_to_rotate(current, now) is None:
                return SealingKey(current, await self.unwrap(current))
            material = self._cipher.generate_key()
            ref = DataKeyRef(f"dek_{self._ids.secret(12)}", next_data_key_version(current))
            fresh = DataKey(
                id=ref.key_id,
                merchant_id=merchant_id,
                version=ref.version,
                wrapped_key=await self._kek.wrap(material, merchant_id=merchant_id, ref=ref),
                kek_id=self._kek.kek_id,
                created=now,
            )
            try:
                async with self._uow() as uow:
                    await uow.data_keys.add(fresh)
                    if current is not None and current.active:
                        current.retire(now)
                        await uow.data_keys.update(current)
                    await uow.commit()
            except Conflict:
                continue  # another process rotated first: take its key on the next round
            return SealingKey(fresh, material)
        raise Conflict(
            "The merchant's data key is being rotated; retry.", reason="CONCURRENT_UPDATE"
        )

    async def retire_active(self, merchant_id: str) -> bool:
        """Retires the merchant's active data key now: the next `sealing_key` makes a new
        version. False when the merchant has no active key."""
        async with self._uow() as uow:
            current = await uow.data_keys.latest(merchant_id)
            if current is None or not current.active:
                return False
            current.retire(self._clock.now())
            await uow.data_keys.update(current)
            await uow.commit()
        return True

    async def unwrap(self, key: DataKey) -> KeyMaterial:
        return await self._kek.unwrap(key.wrapped_key, merchant_id=key.merchant_id, ref=key.ref)

    async def rewrap(self, key: DataKey) -> None:
        """Wraps the key's material again under the current KEK (the old KEK must still be
        configured to unwrap it). The key's id, version and material stay the same."""
        material = await self.unwrap(key)
        key.wrapped_key = await self._kek.wrap(material, merchant_id=key.merchant_id, ref=key.ref)
        key.kek_id = self._kek.kek_id

    def seal(self, plaintext: bytes, sealing: SealingKey, context: CipherContext) -> EncryptedCard:
        ref = sealing.key.ref
        ciphertext = self._cipher.encrypt(sealing.material, plaintext, ref=ref, context=context)
        return EncryptedCard(ciphertext, ref.key_id, ref.version)

    async def open(self, uow: VaultUnitOfWork, ciphertext: bytes, context: CipherContext) -> bytes:
        """The plaintext, or CiphertextRejected whatever went wrong (no decryption oracle)."""
        ref = self._cipher.key_ref(ciphertext)
        key = await uow.data_keys.get(context.merchant_id, ref.key_id)
        if key is None or key.version != ref.version:
            raise CiphertextRejected()
        return self._cipher.decrypt(await self.unwrap(key), ciphertext, context=context)
