"""The vault's key handling, shared by the use-cases and the rotation job.

For every encryption:
1. `sealing_key` reads the merchant's newest data key. When it has none, or the rotation
   policy says it is spent (age, usage, retired), a new version is generated and wrapped
   by the KEK OUTSIDE any transaction (a KMS is a network call), then inserted in a short
   transaction that also retires the old one. Two processes rotating at once collide on
   (merchant, version): the loser rereads and uses the winner's key.
2. `seal` encrypts under that key with AES-GCM, bound to (merchant, record id); the caller
   writes the row together with the key's encryption count (an atomic increment). The
   count is taken in blocks (`count`): a process adds a block of encryptions to the
   key's counter in one tokenization's transaction and uses it up in memory, so most
   tokenizations leave the merchant's key row alone (it was one hot row per merchant).
   The counter runs ahead of the encryptions made (by the unused part of each process's
   block, at most a thousandth of the usage cap), never behind: a key rotates on usage at
   or before its cap.

`open` reads the key id/version from the ciphertext header, loads that data key (a retired
one too, but only the merchant's own; its row is read once per process) and unwraps it.
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
# The largest block of encryptions a process reserves at once, and its share of the
# usage cap: a policy below 1,000 encryptions is counted one by one.
ENCRYPTION_BLOCK = 1000
_BLOCKS_PER_CAP = 1000
_RESERVED_KEYS = 10_000  # keys (merchants) a process keeps a block for
_KEPT_KEYS = 10_000  # data key rows a process keeps for decryption


@dataclass(frozen=True)
class Counted:
    """What one sealing adds to its key's counter in the caller's transaction (`add`),
    and the block this process may use without counting once that transaction has
    committed (`block`, handed back to Keyring.committed)."""

    key_id: str
    add: int
    block: int = 0


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
        self._block = min(ENCRYPTION_BLOCK, self.rotation.max_encryptions // _BLOCKS_PER_CAP)
        self._reserved: dict[str, int] = {}  # key id -> encryptions counted, not yet made
        self._opening: dict[tuple[str, str], DataKey] = {}  # (merchant, key id) -> its row

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

    def count(self, key: DataKey, encryptions: int) -> Counted:
        """Counts `encryptions` under `key` against its usage cap: out of this process's
        block when it covers them (nothing to write), else they and a new block are added
        to the counter in the caller's transaction."""
        left = self._reserved.get(key.id, 0)
        if left >= encryptions:
            self._reserved[key.id] = left - encryptions
            return Counted(key.id, add=0)
        return Counted(key.id, add=encryptions + self._block, block=self._block)

    def committed(self, counted: Counted) -> None:
        """The transaction that added `counted` committed: its block may be used."""
        if not counted.block:
            return
        if len(self._reserved) >= _RESERVED_KEYS and counted.key_id not in self._reserved:
            self._reserved.clear()  # an unused block only makes a key rotate earlier
        self._reserved[counted.key_id] = self._reserved.get(counted.key_id, 0) + counted.block

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
        # The data key's row is read once per process: what decryption uses of it (id,
        # version, the wrapped material) never changes, and a key that a KEK rotation
        # rewrapped still unwraps with the old KEK, which stays configured until every
        # key is rewrapped. Only a row that has opened a ciphertext is kept (a tampered
        # one is read again and refused every time), never the unwrapped material.
        kept = self._opening.get((context.merchant_id, ref.key_id))
        key = kept or await uow.data_keys.get(context.merchant_id, ref.key_id)
        if key is None or key.version != ref.version:
            raise CiphertextRejected()
        plaintext = self._cipher.decrypt(await self.unwrap(key), ciphertext, context=context)
        if kept is None:
            if len(self._opening) >= _KEPT_KEYS:
                del self._opening[next(iter(self._opening))]  # the oldest read
            self._opening[(context.merchant_id, ref.key_id)] = key
        return plaintext
