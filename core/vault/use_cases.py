"""Vault use-cases: tokenize a card, turn a token into a payment method, hand a card to one
authorization (audited), list and revoke payment methods, sweep expired tokens.
Validate -> load -> decide -> persist; nothing here knows the wire, SQL or a crypto
library. Key handling (sealing keys, rotation on use, opening) is core.vault.keyring's.

The CVC never reaches storage in clear, nor the CVC store: it is sealed under the same
data key as the card, bound to `<record id>#cvc` (so it cannot be swapped with a card
ciphertext or another record's CVC), and kept in the CvcStore until the one authorization
that takes it, at most until the token expires.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.access.model import Principal
from core.shared.errors import Conflict, InvalidArgument, NotFound, PaygateError, Violations
from core.shared.ids import has_prefix
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.shared.redaction import mask_pans
from core.shared.secret import Secret
from core.vault.bin_table import DEFAULT_BIN_TABLE, BinTable
from core.vault.cards import CardInput, validate_card
from core.vault.errors import CiphertextRejected, TokenExpired
from core.vault.keyring import Keyring, SealingKey
from core.vault.model import (
    TOKEN_TTL,
    CardDescription,
    CardForAuthorization,
    CardSummary,
    CipherContext,
    DetokenizationOutcome,
    DetokenizationRecord,
    EncryptedCard,
    PaymentMethod,
    RotationPolicy,
    SensitiveCard,
    Token,
    TokenStatus,
)
from core.vault.ports import (
    Cipher,
    CvcStore,
    Fingerprinter,
    KeyWrapper,
    VaultUnitOfWork,
    VaultUnitOfWorkFactory,
)
from core.vault.read_tokens import ReadTokens

_CUSTOMER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What a caller may say about why it wants a card: printable ASCII, kept in the audit.
_PURPOSE = re.compile(r"^[\x20-\x7e]{1,200}$")
CIPHERTEXT_REJECTED = "CIPHERTEXT_REJECTED"
# A token's use, read again after a lost version race: the loser of a race for the token
# finds it used at the second read; a version moved by a key rotation's re-encryption is
# tried again (twice at most: the re-encryption touches a row once per rotation).
_USE_ATTEMPTS = 3


def cvc_context(merchant_id: str, record_id: str) -> CipherContext:
    return CipherContext(merchant_id, f"{record_id}#cvc")


def shown(value: str, limit: int = 40) -> str:
    """A caller's id as we may repeat it (an error message, the audit): cut short, and any
    card number in it masked, since a confused client may send a PAN where an id belongs."""
    return mask_pans(value[:200])[:limit]


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
        read_tokens: ReadTokens | None = None,
    ) -> None:
        self._uow = uow
        self._fingerprinter = fingerprinter
        self._cvc = cvc_store
        self._ids = ids
        self._clock = clock
        self._bins = bins
        self._token_ttl = token_ttl
        # The token rows describe_for_payment read, for the use that follows.
        self._read = read_tokens if read_tokens is not None else ReadTokens(clock)
        self.keyring = Keyring(
            uow, cipher=cipher, key_wrapper=key_wrapper, ids=ids, clock=clock, rotation=rotation
        )

    # ----------------------------------------------------------- public operations

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
        sealing = await self.keyring.sealing_key(caller.merchant_id)
        token_id = self._ids.new("tok")
        token = Token.create(
            id=token_id,
            merchant_id=caller.merchant_id,
            livemode=caller.livemode,
            card=summary,
            encrypted_card=self.keyring.seal(
                SensitiveCard(valid.pan, valid.name).to_bytes(),
                sealing,
                CipherContext(caller.merchant_id, token_id),
            ),
            created=now,
            ttl=self._token_ttl,
        )
        encryptions = 1
        if valid.cvc is not None:
            # Before the token is committed: when the CVC store is down, nothing is written.
            await self._put_cvc(token.id, valid.cvc, sealing, token)
            encryptions += 1
        counted = self.keyring.count(sealing.key, encryptions)
        async with self._uow() as uow:
            if counted.add:
                # Once per block of encryptions: the token and the count stand or fall
                # together, in one transaction.
                await uow.tokens.add(token)
                await uow.data_keys.count_encryptions(sealing.key.id, counted.add)
                await uow.commit()
            else:
                # Otherwise the token is the only write: one INSERT, its own transaction
                # (no BEGIN, no COMMIT round trip), written whole or not at all.
                uow.autocommit()
                await uow.tokens.add(token)
        self.keyring.committed(counted)
        return token

    async def create_payment_method_from_token(
        self, caller: Principal, token_id: str, *, customer_id: str = ""
    ) -> PaymentMethod:
        """POST /v1/payment_methods {token}: uses the token up, gives a reusable `pm_...`.

        The card is re-encrypted for the new row (its ciphertext is bound to its row id).
        A CVC still in the CVC store moves to the payment method for the rest of the
        token's lifetime, so the first payment with it can still send the CVC.
        """
        if customer_id and not _CUSTOMER_ID.match(customer_id):
            raise InvalidArgument.field("customer", "must be 1-64 letters, digits, '_' or '-'")
        sealing = await self.keyring.sealing_key(caller.merchant_id)
        method_id = self._ids.new("pm")
        async with self._uow() as uow:
            now = self._clock.now()
            token = await self._usable_token(
                uow, caller.merchant_id, caller.livemode, token_id, param="token"
            )
            encrypted = token.use(now)  # saved only if everything below succeeds
            card = await self._open_card(uow, encrypted, CipherContext(token.merchant_id, token.id))
            cvc = await self._take_cvc(uow, token.merchant_id, token.id)
            method = PaymentMethod(
                id=method_id,
                merchant_id=caller.merchant_id,
                livemode=caller.livemode,
                card=token.card,
                encrypted_card=self.keyring.seal(
                    card.to_bytes(), sealing, CipherContext(caller.merchant_id, method_id)
                ),
                created=now,
                customer_id=customer_id,
            )
            if cvc is not None:
                await self._put_cvc(method.id, cvc, sealing, token)
            await uow.tokens.update(token)
            await uow.payment_methods.add(method)
            await uow.data_keys.count_encryptions(sealing.key.id, 1 if cvc is None else 2)
            await uow.commit()
        self._read.forget(token.merchant_id, token.id)
        return method

    async def get_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        async with self._uow() as uow:
            return await self._method(uow, caller.merchant_id, caller.livemode, method_id)

    async def list_payment_methods(
        self,
        caller: Principal,
        *,
        customer_id: str = "",
        limit: int = 0,
        starting_after: str = "",
    ) -> Page[PaymentMethod]:
        """The merchant's payment methods (of one customer when given), newest first."""
        violations = Violations()
        limit = page_limit(limit, violations)
        if customer_id and not _CUSTOMER_ID.match(customer_id):
            violations.add("customer", "must be 1-64 letters, digits, '_' or '-'")
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.payment_methods.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.payment_methods.list(
                caller.merchant_id,
                livemode=caller.livemode,
                limit=limit + 1,
                customer_id=customer_id or None,
                starting_after=starting_after or None,
            )
        return Page.from_overfetch(list(rows), limit)

    async def revoke_payment_method(self, caller: Principal, method_id: str) -> PaymentMethod:
        """Erases the card's ciphertext; the payment method can never pay again."""
        async with self._uow() as uow:
            method = await self._method(
                uow, caller.merchant_id, caller.livemode, method_id, for_update=True
            )
            method.revoke(self._clock.now())
            await uow.payment_methods.update(method)
            await uow.commit()
        await self._cvc.discard(method.id)
        return method

    # ------------------------------------------------------ the payments core's door

    async def detokenize_for_payment(
        self,
        merchant_id: str,
        payment_method: str,
        *,
        purpose: str,
        actor: str,
        livemode: bool | None = None,
    ) -> CardForAuthorization:
        """The card behind a `tok_` (consumed: single use) or a `pm_` (reusable), in clear,
        for one authorization. Every call leaves a DetokenizationRecord: a grant in the
        same transaction that uses the token, a denial in a transaction of its own.

        Unknown ids, another merchant's, and (when `livemode` is given) the other mode's
        are NOT_FOUND with param=payment_method.
        """
        try:
            if not _PURPOSE.match(purpose):
                raise InvalidArgument.field("purpose", "must be 1-200 printable ASCII characters")
            audit = _Audit(merchant_id, shown(payment_method, 64), actor, shown(purpose, 200))
            if has_prefix(payment_method, "tok"):
                return await self._consume_token(merchant_id, livemode, payment_method, audit)
            if has_prefix(payment_method, "pm"):
                return await self._card_for_method(merchant_id, livemode, payment_method, audit)
            raise NotFound(
                f"No such payment method: {shown(payment_method)!r}",
                metadata={"param": "payment_method"},
            )
        except (PaygateError, CiphertextRejected) as error:
            reason = error.reason if isinstance(error, PaygateError) else CIPHERTEXT_REJECTED
            await self._record_denial(merchant_id, payment_method, actor, purpose, reason)
            raise

    async def describe_for_payment(
        self, merchant_id: str, payment_method: str, *, livemode: bool
    ) -> CardDescription:
        """What the application zone may know of the card behind a `tok_` or `pm_` before
        paying with it (core.payments.ports.CardProfiles): the summary and the first six
        digits, never the number. Nothing is used up and no audit record is written (no
        card leaves the vault); the errors are those of detokenize_for_payment."""
        async with self._uow() as uow:
            if has_prefix(payment_method, "tok"):
                # A plain read (no transaction, no lock): nothing changes here, and the
                # zone's detokenization uses the token up only if its version holds.
                token = await self._usable_token(
                    uow, merchant_id, livemode, payment_method, param="payment_method",
                    for_update=False,
                )  # fmt: skip
                summary, encrypted, context = (
                    token.card,
                    token.encrypted_card,
                    CipherContext(token.merchant_id, token.id),
                )
            elif has_prefix(payment_method, "pm"):
                method = await self._method(
                    uow, merchant_id, livemode, payment_method, param="payment_method"
                )
                summary, encrypted, context = (
                    method.card,
                    method.ensure_usable(),
                    CipherContext(method.merchant_id, method.id),
                )
            else:
                raise NotFound(
                    f"No such payment method: {shown(payment_method)!r}",
                    metadata={"param": "payment_method"},
                )
            if encrypted is None:
                raise NotFound(
                    f"No such payment method: {shown(payment_method)!r}",
                    metadata={"param": "payment_method"},
                )
            card = await self._open_card(uow, encrypted, context)
        if has_prefix(payment_method, "tok"):
            # The row read, for the use that follows (the zone's detokenization).
            self._read.keep(token)
        return CardDescription(
            card=summary, iin=card.pan.bin, test_card=card.pan.published_test_card
        )

    async def _consume_token(
        self, merchant_id: str, livemode: bool | None, token_id: str, audit: _Audit
    ) -> CardForAuthorization:
        """The token is read without a lock and checked here (exists, this merchant's,
        ACTIVE, not expired); its use is then ONE statement alone (autocommit): the
        versioned UPDATE of the token with the grant's audit row, written only if the
        token's version is still the one read. Two confirmations racing for one token
        cannot both get the card: the loser's statement matches no row (Conflict), and
        its re-read finds the token used: TOKEN_ALREADY_USED. A version moved by anything
        else (the re-encryption of a key rotation) is read again and tried again.

        The first attempt takes the row describe_for_payment read for this token when it
        is still kept (ReadTokens): the same checks run on it, and the versioned write
        decides as on a row just read; a row that moved meanwhile loses the write and is
        read again (docs/vault.md, "The token read once").

        The CVC leaves its store only once the token is used: a use that fails keeps it.
        If taking it fails after the use, the token stays used (docs/vault.md, "A
        token's single use")."""
        kept = self._read.take(merchant_id, token_id)
        # A kept row that moved costs an attempt of its own, then the reads as before.
        attempts = _USE_ATTEMPTS + (kept is not None)
        for attempt in range(1, attempts + 1):
            async with self._uow() as uow:
                now = self._clock.now()
                token = await self._usable_token(
                    uow, merchant_id, livemode, token_id, param="payment_method",
                    for_update=False, kept=kept,
                )  # fmt: skip
                encrypted = token.use(now)
                card = await self._open_card(
                    uow, encrypted, CipherContext(token.merchant_id, token.id)
                )
                uow.autocommit()
                try:
                    await uow.tokens.use(token, audit.granted(now))
                except Conflict:
                    if attempt == attempts:
                        raise
                    kept = None
                    continue  # read again: used (the race's loser), or moved and usable
                cvc = await self._take_cvc(uow, token.merchant_id, token.id)
            return _for_authorization(card, cvc, token.card)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _card_for_method(
        self, merchant_id: str, livemode: bool | None, method_id: str, audit: _Audit
    ) -> CardForAuthorization:
        async with self._uow() as uow:
            method = await self._method(
                uow, merchant_id, livemode, method_id, param="payment_method"
            )
            encrypted = method.ensure_usable()
            card = await self._open_card(
                uow, encrypted, CipherContext(method.merchant_id, method.id)
            )
            cvc = await self._take_cvc(uow, method.merchant_id, method.id)
            await uow.detokenizations.append(audit.granted(self._clock.now()))
            await uow.commit()
        return _for_authorization(card, cvc, method.card)

    async def _record_denial(
        self, merchant_id: str, payment_method: str, actor: str, purpose: str, reason: str
    ) -> None:
        record = _Audit(
            merchant_id, shown(payment_method, 64), actor, shown(purpose, 200) or "(none)"
        ).denied(self._clock.now(), reason)
        async with self._uow() as uow:
            await uow.detokenizations.append(record)
            await uow.commit()

    # ------------------------------------------------------------------ upkeep

    async def expire_tokens(self, *, limit: int = 500) -> int:
        """Erases the ciphertexts of up to `limit` tokens past their lifetime (rows that a
        payment holds are skipped: it will see them expired itself). Returns how many."""
        now = self._clock.now()
        self._read.prune(now)
        async with self._uow() as uow:
            tokens = await uow.tokens.expired(now, limit=limit)
            for token in tokens:
                token.expire(now)
                await uow.tokens.update(token)
            await uow.commit()
        for token in tokens:
            self._read.forget(token.merchant_id, token.id)
            await self._cvc.discard(token.id)
        return len(tokens)

    # -------------------------------------------------------------------- loading

    async def _usable_token(
        self,
        uow: VaultUnitOfWork,
        merchant_id: str,
        livemode: bool | None,
        token_id: str,
        *,
        param: str,
        for_update: bool = True,
        kept: Token | None = None,
    ) -> Token:
        """The token, checked usable. `kept` is the row as read a moment ago (ReadTokens),
        used instead of reading it again; one past its lifetime is read again, so that
        the expiry is recorded on the stored row."""
        token = kept
        if token is None or token.is_expired(self._clock.now()):
            token = None
            if has_prefix(token_id, "tok"):
                token = await uow.tokens.get(merchant_id, token_id, for_update=for_update)
        if token is None or (livemode is not None and token.livemode != livemode):
            raise NotFound(f"No such token: {shown(token_id)!r}", metadata={"param": param})
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
        self,
        uow: VaultUnitOfWork,
        merchant_id: str,
        livemode: bool | None,
        method_id: str,
        *,
        for_update: bool = False,
        param: str = "id",
    ) -> PaymentMethod:
        method = None
        if has_prefix(method_id, "pm"):
            method = await uow.payment_methods.get(merchant_id, method_id, for_update=for_update)
        if method is None or (livemode is not None and method.livemode != livemode):
            raise NotFound(
                f"No such payment method: {shown(method_id)!r}", metadata={"param": param}
            )
        return method

    # --------------------------------------------------------------------- crypto

    async def _open_card(
        self, uow: VaultUnitOfWork, encrypted: EncryptedCard, context: CipherContext
    ) -> SensitiveCard:
        plaintext = await self.keyring.open(uow, encrypted.ciphertext, context)
        try:
            return SensitiveCard.from_bytes(plaintext)
        except (ValueError, KeyError) as exc:
            raise CiphertextRejected() from exc

    async def _put_cvc(
        self, record_id: str, cvc: Secret, sealing: SealingKey, token: Token
    ) -> None:
        merchant_id = sealing.key.merchant_id
        sealed = self.keyring.seal(
            cvc.reveal().encode("ascii"), sealing, cvc_context(merchant_id, record_id)
        )
        await self._cvc.put(record_id, sealed.ciphertext, expires_at=token.expires_at)

    async def _take_cvc(
        self, uow: VaultUnitOfWork, merchant_id: str, record_id: str
    ) -> Secret | None:
        """The record's CVC, out of the store for good (it serves one authorization)."""
        sealed = await self._cvc.pop(record_id)
        if sealed is None:
            return None
        plaintext = await self.keyring.open(uow, sealed, cvc_context(merchant_id, record_id))
        return Secret(plaintext.decode("ascii"))


class _Audit:
    """The parts of a DetokenizationRecord known before the outcome."""

    def __init__(self, merchant_id: str, payment_method: str, actor: str, purpose: str) -> None:
        self._fields = (merchant_id, payment_method, actor, purpose)

    def granted(self, now: datetime) -> DetokenizationRecord:
        return DetokenizationRecord(
            *self._fields, outcome=DetokenizationOutcome.GRANTED, reason="", occurred_at=now
        )

    def denied(self, now: datetime, reason: str) -> DetokenizationRecord:
        return DetokenizationRecord(
            *self._fields, outcome=DetokenizationOutcome.DENIED, reason=reason, occurred_at=now
        )


def _for_authorization(
    card: SensitiveCard, cvc: Secret | None, summary: CardSummary
) -> CardForAuthorization:
    return CardForAuthorization(
        pan=card.pan,
        exp_month=summary.exp_month,
        exp_year=summary.exp_year,
        cvc=cvc,
        name=card.name,
        card=summary,
    )
