"""Vault use-cases: tokenize a card, turn a token into a payment method, hand a card to one
authorization, revoke. Validate -> load -> decide -> persist; nothing here knows the wire,
SQL or a crypto library.

Key handling, in order, for every encryption:
1. `_sealing_key` reads the merchant's newest data key. When it has none, or the rotation
   policy says it is spent (age, usage, retired), a new version is generated and wrapped
   by the KEK OUTSIDE any transaction (a KMS is a network call), then inserted in a short
   transaction that also retires the old one. Two processes rotating at once collide on
   (merchant, version): the loser rereads and uses the winner's key.
2. The card is sealed with AES-GCM under that key, bound to (merchant, record id), and the
   row is written together with the key's encryption count (an atomic increment).
Decryption reads the key id/version from the ciphertext header, loads that data key (a
retired one too) and unwraps it.
"""

from __future__ import annotations

import re
from datetime import timedelta

from core.access.model import Principal
from core.shared.errors import Conflict, InvalidArgument, NotFound
from core.shared.ids import has_prefix
from core.shared.ports import Clock, IdGenerator
from core.vault.bin_table import DEFAULT_BIN_TABLE, BinTable
from core.vault.cards import CardInput, validate_card
from core.vault.errors import CiphertextRejected, TokenExpired
from core.vault.model import (
    TOKEN_TTL,
    CardForAuthorization,
    CardSummary,
    CipherContext,
    DataKey,
    DataKeyRef,
    EncryptedCard,
    KeyMaterial,
    PaymentMethod,
    RotationPolicy,
    SensitiveCard,
    Token,
    TokenStatus,
    next_data_key_version,
)
from core.vault.ports import (
    Cipher,
    CvcStore,
    Fingerprinter,
    KeyWrapper,
    VaultUnitOfWork,
    VaultUnitOfWorkFactory,
)

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROTATION_ATTEMPTS = 3


class Vault:
    def __init__(
        self,
        uow: VaultUnitOfWorkFactory,
        *,
        cipher: Cipher,
        key_wrapper: KeyWrapper,
        fingerprinter: Fingerprinter,
        cvc_store: CvcStore,
        ids: IdGenerator,
        clock: Clock,
        bins: BinTable = DEFAULT_BIN_TABLE,
        rotation: RotationPolicy | None = None,
        token_ttl: timedelta = TOKEN_TTL,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._kek = key_wrapper
        self._fingerprinter = fingerprinter
        self._cvc = cvc_store
        self._ids = ids
        self._clock = clock
        self._bins = bins
        self._rotation = rotation or RotationPolicy()
        self._token_ttl = token_ttl

    # ------------------------------------------------------------------ use-cases

    async def tokenize_card(self, caller: Principal, card: CardInput) -> Token:
        """POST /v1/tokens: a single-use `tok_...` valid for 15 minutes."""
        now = self._clock.now()
        valid = validate_card(card, now=now, bins=self._bins)
        summary = CardSummary(
            brand=valid.brand,
            last4=valid.pan.last4,
            exp_month=valid.exp_month,
            exp_year=valid.exp_year,
            fingerprint=self._fingerprinter.fingerprint(valid.pan, merchant_id=caller.merchant_id),
            funding=valid.bin.funding,
            country=valid.bin.country,
        )
        key, material = await self._sealing_key(caller.merchant_id)
        token_id = self._ids.new("tok")
        encrypted = self._seal(
            SensitiveCard(valid.pan, valid.name),
            key,
            material,
            CipherContext(caller.merchant_id, token_id),
        )
        token = Token.create(
            id=token_id,
            merchant_id=caller.merchant_id,
            livemode=caller.livemode,
            card=summary,
            encrypted_card=encrypted,
            created=now,
            ttl=self._token_ttl,
        )
        async with self._uow() as uow:
            await uow.tokens.add(token)
            await uow.data_keys.count_encryptions(key.id)
            await uow.commit()
        if valid.cvc is not None:
            await self._cvc.put(token.id, valid.cvc, expires_at=token.expires_at)
        return token

    async def create_payment_method_from_token(
        self, caller: Principal, token_id: str, *, customer_id: str = ""
    ) -> PaymentMethod:
        """POST /v1/payment_methods {token}: uses the token up, gives a reusable `pm_...`.

        The card is re-encrypted for the new row (its ciphertext is bound to its row id).
        A CVC still in memory moves to the payment method for the rest of the token's
        lifetime, so the first payment with it can still send the CVC.
        """
        if customer_id and not _CUSTOMER_ID.match(customer_id):
            raise InvalidArgument.field("customer", "must be 1-64 letters, digits, '_' or '-'")
        key, material = await self._sealing_key(caller.merchant_id)
        method_id = self._ids.new("pm")
        async with self._uow() as uow:
            now = self._clock.now()
            token = await self._usable_token(uow, caller, token_id, param="token")
            encrypted = token.use(now)  # saved only if everything below succeeds
            card = await self._open(uow, encrypted, CipherContext(token.merchant_id, token.id))
            method = PaymentMethod(
                id=method_id,
                merchant_id=caller.merchant_id,
                livemode=caller.livemode,
                card=token.card,
                encrypted_card=self._seal(
                    card, key, material, CipherContext(caller.merchant_id, method_id)
                ),
                created=now,
                customer_id=customer_id,
            )
            await uow.tokens.update(token)
            await uow.payment_methods.add(method)
            await uow.data_keys.count_encryptions(key.id)
            await uow.commit()
        cvc = await self._cvc.pop(token.id)
        if cvc is not None:
            await self._cvc.put(method.id, cvc, expires_at=token.expires_at)
        return method

    async def consume_token_for_payment(
        self, caller: Principal, token_id: str
    ) -> CardForAuthorization:
        """The card behind a token, for exactly one authorization; the token is USED after.

        The token row is locked for the decryption, so two confirmations racing for one
        token cannot both get the card: the second sees TOKEN_ALREADY_USED.
        """
        async with self._uow() as uow:
            now = self._clock.now()
            token = await self._usable_token(uow, caller, token_id, param="payment_method")
            encrypted = token.use(now)
            card = await self._open(uow, encrypted, CipherContext(token.merchant_id, token.id))
            await uow.tokens.update(token)
            await uow.commit()
        return CardForAuthorization(
            pan=card.pan,
            exp_month=token.card.exp_month,
            exp_year=token.card.exp_year,
            cvc=await self._cvc.pop(token.id),
            name=card.name,
            card=token.card,
        )

    async def card_for_payment_method(
        self, caller: Principal, method_id: str
    ) -> CardForAuthorization:
        """The card behind a reusable payment method, for one authorization."""
        async with self._uow() as uow:
            method = await self._method(uow, caller, method_id)
            encrypted = method.ensure_usable()
            card = await self._open(uow, encrypted, CipherContext(method.merchant_id, method.id))
        return CardForAuthorization(
            pan=card.pan,
            exp_month=method.card.exp_month,
            exp_year=method.card.exp_year,
            cvc=await self._cvc.pop(method.id),
            name=card.name,
            card=method.card,
        )

    async def revoke_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        """Erases the card's ciphertext; the payment method can never pay again."""
        async with self._uow() as uow:
            method = await self._method(uow, caller, method_id, for_update=True)
            method.revoke(self._clock.now())
            await uow.payment_methods.update(method)
            await uow.commit()
        await self._cvc.discard(method.id)
        return method

    # -------------------------------------------------------------------- loading

    async def _usable_token(
        self, uow: VaultUnitOfWork, caller: Principal, token_id: str, *, param: str
    ) -> Token:
        token = None
        if has_prefix(token_id, "tok"):
            token = await uow.tokens.get(caller.merchant_id, token_id, for_update=True)
        if token is None or token.livemode != caller.livemode:
            raise NotFound(f"No such token: {token_id[:40]!r}", metadata={"param": param})
        now = self._clock.now()
        if token.status is TokenStatus.ACTIVE and token.is_expired(now):
            # Record the expiry (and erase the card) before saying so.
            token.expire(now)
            await uow.tokens.update(token)
            await uow.commit()
            await self._cvc.discard(token.id)
            raise TokenExpired(f"Token {token.id} has expired.")
        token.ensure_usable(now)
        return token

    async def _method(
        self, uow: VaultUnitOfWork, caller: Principal, method_id: str, *, for_update: bool = False
    ) -> PaymentMethod:
        method = None
        if has_prefix(method_id, "pm"):
            method = await uow.payment_methods.get(
                caller.merchant_id, method_id, for_update=for_update
            )
        if method is None or method.livemode != caller.livemode:
            raise NotFound(
                f"No such payment method: {method_id[:40]!r}", metadata={"param": "payment_method"}
            )
        return method

    # --------------------------------------------------------------------- crypto

    async def _sealing_key(self, merchant_id: str) -> tuple[DataKey, KeyMaterial]:
        """The data key new ciphertexts of this merchant go under, rotating when due."""
        for _ in range(_ROTATION_ATTEMPTS):
            async with self._uow() as uow:
                current = await uow.data_keys.latest(merchant_id)
            now = self._clock.now()
            if current is not None and self._rotation.reason_to_rotate(current, now) is None:
                return current, await self._unwrap(current)
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
            return fresh, material
        raise Conflict(
            "The merchant's data key is being rotated; retry.", reason="CONCURRENT_UPDATE"
        )

    async def _unwrap(self, key: DataKey) -> KeyMaterial:
        return await self._kek.unwrap(key.wrapped_key, merchant_id=key.merchant_id, ref=key.ref)

    def _seal(
        self, card: SensitiveCard, key: DataKey, material: KeyMaterial, context: CipherContext
    ) -> EncryptedCard:
        ciphertext = self._cipher.encrypt(material, card.to_bytes(), ref=key.ref, context=context)
        return EncryptedCard(ciphertext, key.id, key.version)

    async def _open(
        self, uow: VaultUnitOfWork, encrypted: EncryptedCard, context: CipherContext
    ) -> SensitiveCard:
        ref = self._cipher.key_ref(encrypted.ciphertext)
        key = await uow.data_keys.get(context.merchant_id, ref.key_id)
        if key is None or key.version != ref.version:
            raise CiphertextRejected()
        plaintext = self._cipher.decrypt(
            await self._unwrap(key), encrypted.ciphertext, context=context
        )
        try:
            return SensitiveCard.from_bytes(plaintext)
        except (ValueError, KeyError) as exc:
            raise CiphertextRejected() from exc
