"""Authentication by API key and the keys' lifecycle."""

from __future__ import annotations

from dataclasses import dataclass

from core.access.model import (
    ApiKey,
    KeyType,
    Merchant,
    Principal,
    hash_key,
    lookup_of,
    mode_prefix,
)
from core.access.roles import Role
from core.shared.errors import InvalidArgument, NotFound, Unauthenticated, Violations
from core.shared.pagination import Page, page_limit
from core.shared.ports import Clock, IdGenerator
from core.shared.unit_of_work import UnitOfWorkFactory

_BAD_KEY = "Invalid API key provided."


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the only moment its plaintext exists outside the caller's hands."""

    key: ApiKey
    plaintext: str


@dataclass(frozen=True)
class SeededMerchant:
    merchant: Merchant
    secret_key: IssuedKey
    publishable_key: IssuedKey


class ApiKeys:
    def __init__(self, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock

    async def authenticate(self, plaintext: str) -> Principal:
        """The principal of a presented key; every failure looks the same to the caller."""
        if not plaintext.startswith(("sk_", "pk_")) or len(plaintext) > 200:
            raise Unauthenticated(_BAD_KEY, reason="INVALID_API_KEY")
        async with self._uow() as uow:
            candidates = await uow.api_keys.by_lookup(lookup_of(plaintext))
            key = next((k for k in candidates if k.matches(plaintext)), None)
            if key is None or not key.active:
                raise Unauthenticated(_BAD_KEY, reason="INVALID_API_KEY")
            await uow.api_keys.record_use(key.id, self._clock.now())
            await uow.commit()
        return Principal(
            merchant_id=key.merchant_id,
            livemode=key.livemode,
            actor=key.id,
            role=key.role,
            is_publishable=key.type is KeyType.PUBLISHABLE,
        )

    def _issue(
        self, merchant_id: str, key_type: KeyType, role: Role | None, livemode: bool
    ) -> IssuedKey:
        plaintext = mode_prefix(key_type, livemode) + self._ids.secret(24)
        key = ApiKey(
            id=self._ids.new("key"),
            merchant_id=merchant_id,
            type=key_type,
            role=role if key_type is KeyType.SECRET else None,
            livemode=livemode,
            lookup=lookup_of(plaintext),
            last4=plaintext[-4:],
            secret_hash=hash_key(plaintext),
            created=self._clock.now(),
        )
        return IssuedKey(key, plaintext)

    async def create(
        self, caller: Principal, key_type: KeyType | None, role: Role | None
    ) -> IssuedKey:
        if key_type is None:
            raise InvalidArgument.field("type", "must be SECRET or PUBLISHABLE")
        if key_type is KeyType.PUBLISHABLE and role is not None:
            raise InvalidArgument.field("role", "a publishable key has no role")
        issued = self._issue(caller.merchant_id, key_type, role or Role.ADMIN, caller.livemode)
        async with self._uow() as uow:
            await uow.api_keys.add(issued.key)
            await uow.commit()
        return issued

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[ApiKey]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            rows = await uow.api_keys.list(
                caller.merchant_id, limit=limit + 1, starting_after=starting_after or None
            )
        return Page.from_overfetch(list(rows), limit)

    async def revoke(self, caller: Principal, key_id: str) -> ApiKey:
        async with self._uow() as uow:
            key = await uow.api_keys.get(caller.merchant_id, key_id)
            if key is None:
                raise NotFound(f"No such API key: {key_id[:40]!r}", metadata={"param": "id"})
            if key.active:
                key.revoked_at = self._clock.now()
                await uow.api_keys.revoke(caller.merchant_id, key_id, key.revoked_at)
                await uow.commit()
        return key

    async def seed_merchant(self, name: str) -> SeededMerchant:
        """A test-mode merchant with an ADMIN secret key and a publishable key."""
        merchant = Merchant(id=self._ids.new("acct"), name=name, created=self._clock.now())
        secret = self._issue(merchant.id, KeyType.SECRET, Role.ADMIN, livemode=False)
        publishable = self._issue(merchant.id, KeyType.PUBLISHABLE, None, livemode=False)
        async with self._uow() as uow:
            await uow.merchants.add(merchant)
            await uow.api_keys.add(secret.key)
            await uow.api_keys.add(publishable.key)
            await uow.commit()
        return SeededMerchant(merchant, secret, publishable)
