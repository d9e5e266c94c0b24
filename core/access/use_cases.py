"""Authentication by API key and the keys' lifecycle: create, list, revoke, roll."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.access import ip_allowlist
from core.access.audit import Action, AuditEvent, Outcome, caller_event
from core.access.model import (
    ApiKey,
    KeyType,
    Merchant,
    Principal,
    hash_key,
    lookup_of,
    mode_prefix,
)
from core.access.ports import KeyChanges
from core.access.roles import Role, may_grant
from core.shared.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Violations,
)
from core.shared.ids import has_prefix
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWorkFactory

_BAD_KEY = "Invalid API key provided."

# A rolled key keeps working this long unless the caller asks for another grace period:
# a day covers a deploy that waits for a business-hours window.
DEFAULT_ROLL_GRACE = timedelta(hours=24)
MAX_ROLL_GRACE = timedelta(days=7)

# How long a process trusts what it last read of an API key. A key changed (revoked,
# rolled, ...) through this process is forgotten at once, and through another one as soon
# as the key change feed (KeyChanges) tells; this is the bound when the feed is down.
# Authentication then costs no query on the hot path (docs/access.md).
KEY_CACHE_TTL = timedelta(seconds=5)
# Keys cached per process at most; past it the cache starts over (one query per key).
KEY_CACHE_SIZE = 10_000
# A key refused for its address is audited once per (key, address) in this window per
# process: a leaked key hammered from outside its ranges must not turn every refused call
# into a write.
IP_DENIAL_AUDIT_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    """A key as created: the only moment its plaintext exists outside the caller's hands."""

    key: ApiKey
    plaintext: str

    def __repr__(self) -> str:
        return f"IssuedKey(key={self.key.id!r}, plaintext='**********')"


@dataclass(frozen=True)
class SeededMerchant:
    merchant: Merchant
    secret_key: IssuedKey
    publishable_key: IssuedKey


class ApiKeys:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        *,
        cache_ttl: timedelta = KEY_CACHE_TTL,
        changes: KeyChanges | None = None,
    ) -> None:
        """`changes`: the feed of keys changed by other processes; without it (one
        process) a key changed elsewhere is trusted for up to `cache_ttl`."""
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._cache_ttl = cache_ttl
        # lookup -> (read at, the keys with that lookup)
        self._cache: dict[str, tuple[datetime, list[ApiKey]]] = {}
        # Moves on every forget: a read that a forget overtook is not cached (it may
        # predate the change that was told).
        self._forgets = 0
        # key id -> (uses not yet written, latest use): written by flush_usage()
        self._usage: dict[str, tuple[int, datetime]] = {}
        # (key id, address) -> when its last refusal was audited
        self._denials_audited: dict[tuple[str, str], datetime] = {}
        if changes is not None:
            changes.follow(self.forget, self.forget_all)

    async def authenticate(self, plaintext: str, origin: str = "") -> Principal:
        """The principal of a presented key; every failure looks the same to the caller.

        Reads the key through a per-process cache (KEY_CACHE_TTL) and counts the use in
        memory: the caller's request neither waits for nor writes anything; the counts
        reach the table with flush_usage()."""
        if not plaintext.startswith(("sk_", "pk_")) or len(plaintext) > 200:
            raise Unauthenticated(_BAD_KEY, reason="INVALID_API_KEY")
        now = self._clock.now()
        candidates = await self._candidates(lookup_of(plaintext), now)
        # ApiKey.matches compares digests in constant time.
        key = next((k for k in candidates if k.matches(plaintext)), None)
        if key is None or not key.usable_at(now):
            raise Unauthenticated(_BAD_KEY, reason="INVALID_API_KEY")
        if not ip_allowlist.allows(key.allowed_ips, origin):
            await self._refuse_origin(key, origin, now)
        count, latest = self._usage.get(key.id, (0, now))
        self._usage[key.id] = (count + 1, max(latest, now))
        return Principal(
            merchant_id=key.merchant_id,
            livemode=key.livemode,
            actor=key.id,
            role=key.role,
            is_publishable=key.type is KeyType.PUBLISHABLE,
            origin=origin,
        )

    async def _candidates(self, lookup: str, now: datetime) -> list[ApiKey]:
        cached = self._cache.get(lookup)
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cached[1]
        forgets = self._forgets
        async with self._uow() as uow:
            candidates = list(await uow.api_keys.by_lookup(lookup))
        if not candidates:  # an unknown key is not remembered: nothing to fill memory with
            self._cache.pop(lookup, None)
            return candidates
        if forgets != self._forgets:  # a change was told while reading: read it next time
            return candidates
        if len(self._cache) >= KEY_CACHE_SIZE:
            self._cache.clear()
        self._cache[lookup] = (now, candidates)
        return candidates

    async def _refuse_origin(self, key: ApiKey, origin: str, now: datetime) -> None:
        """Audits (at most once a minute per key and address) and refuses the call."""
        seen = self._denials_audited.get((key.id, origin))
        if seen is None or now - seen >= IP_DENIAL_AUDIT_INTERVAL:
            if len(self._denials_audited) >= KEY_CACHE_SIZE:
                self._denials_audited.clear()
            self._denials_audited[(key.id, origin)] = now
            async with self._uow() as uow:
                await uow.audit.append(
                    AuditEvent(now, Action.API_KEY_IP_DENIED, Outcome.DENIED, key.id, origin,
                               key.merchant_id, target=key.id,
                               details={"prefix": key.lookup})
                )  # fmt: skip
                await uow.commit()
        raise PermissionDenied(
            "This API key may not be used from this address (its allowed_ips).",
            reason="IP_NOT_ALLOWED",
            metadata={"ip": origin},
        )

    def forget(self, lookup: str) -> None:
        """The keys of that lookup changed (through this process or, told by the key
        change feed, another one): the next authentication reads them again."""
        self._forgets += 1
        self._cache.pop(lookup, None)

    def forget_all(self) -> None:
        """Any key may have changed unseen (the key change feed began listening, or lost
        its connection): every key is read again."""
        self._forgets += 1
        self._cache.clear()

    async def flush_usage(self) -> int:
        """Writes the uses counted since the last flush (usage_count, last_used_at) in one
        transaction; returns how many keys it updated. The API process calls it every few
        seconds and when it stops; uses counted by a process that dies are lost (the
        counts are statistics, never used to decide anything)."""
        pending, self._usage = self._usage, {}
        if not pending:
            return 0
        try:
            async with self._uow() as uow:
                for key_id, (count, latest) in sorted(pending.items()):
                    await uow.api_keys.record_use(key_id, latest, count)
                await uow.commit()
        except BaseException:
            for key_id, (count, latest) in pending.items():  # kept for the next flush
                now_count, now_latest = self._usage.get(key_id, (0, latest))
                self._usage[key_id] = (now_count + count, max(now_latest, latest))
            raise
        return len(pending)

    def _issue(
        self,
        merchant_id: str,
        key_type: KeyType,
        role: Role | None,
        livemode: bool,
        allowed_ips: tuple[str, ...] = (),
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
            publishable_key=plaintext if key_type is KeyType.PUBLISHABLE else "",
            allowed_ips=allowed_ips,
        )
        return IssuedKey(key, plaintext)

    async def create(
        self,
        caller: Principal,
        key_type: KeyType | None,
        role: Role | None,
        allowed_ips: Sequence[str] = (),
    ) -> IssuedKey:
        if key_type is None:
            raise InvalidArgument.field("type", "must be SECRET or PUBLISHABLE")
        if key_type is KeyType.PUBLISHABLE and role is not None:
            raise InvalidArgument.field("role", "a publishable key has no role")
        networks = _allowed_ips(key_type, allowed_ips)
        if key_type is KeyType.SECRET:
            role = role or _default_role(caller)
            if not may_grant(caller.role, role):
                raise PermissionDenied(
                    f"Your role cannot create a key with role {role.value}.",
                    reason="ROLE_NOT_GRANTABLE",
                    metadata={"param": "role"},
                )
        issued = self._issue(caller.merchant_id, key_type, role, caller.livemode, networks)
        async with self._uow() as uow:
            await uow.api_keys.add(issued.key)
            await uow.audit.append(
                _key_event(caller, Action.API_KEY_CREATE, issued.key, issued.key.created)
            )
            await uow.commit()
        return issued

    async def list(
        self, caller: Principal, *, limit: int = 0, starting_after: str = ""
    ) -> Page[ApiKey]:
        violations = Violations()
        limit = page_limit(limit, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if (
                starting_after
                and await uow.api_keys.get(caller.merchant_id, starting_after) is None
            ):
                raise unknown_cursor()
            rows = await uow.api_keys.list(
                caller.merchant_id,
                limit=limit + 1,
                starting_after=starting_after or None,
                livemode=caller.livemode,
            )
        return Page.from_overfetch(list(rows), limit)

    async def revoke(self, caller: Principal, key_id: str) -> ApiKey:
        async with self._uow() as uow:
            key = _found(await uow.api_keys.get(caller.merchant_id, key_id), key_id, caller)
            _check_may_manage(caller, key)
            if key.active:
                key.revoked_at = self._clock.now()
                await uow.api_keys.revoke(caller.merchant_id, key_id, key.revoked_at)
                await uow.audit.append(
                    _key_event(caller, Action.API_KEY_REVOKE, key, key.revoked_at)
                )
                await uow.commit()
        self.forget(key.lookup)
        return key

    async def set_allowed_ips(
        self, caller: Principal, key_id: str, allowed_ips: Sequence[str]
    ) -> ApiKey:
        """Replaces the key's networks; an empty list lets it be used from anywhere. This
        process applies the change at once, the others when the key change feed tells
        them (within KEY_CACHE_TTL while it is down)."""
        async with self._uow() as uow:
            key = _found(await uow.api_keys.get(caller.merchant_id, key_id), key_id, caller)
            _check_may_manage(caller, key)
            networks = _allowed_ips(key.type, allowed_ips)
            if not key.active:
                raise FailedPrecondition(
                    "A revoked key cannot be changed.",
                    reason="API_KEY_REVOKED",
                    metadata={"param": "id"},
                )
            if networks != key.allowed_ips:
                key.allowed_ips = networks
                await uow.api_keys.set_allowed_ips(caller.merchant_id, key_id, networks)
                details = {"allowed_ips": ",".join(networks)}
                now = self._clock.now()
                await uow.audit.append(_key_event(caller, Action.API_KEY_UPDATE, key, now, details))
                await uow.commit()
        self.forget(key.lookup)
        return key

    async def roll(
        self, caller: Principal, key_id: str, *, grace: timedelta | None = None
    ) -> IssuedKey:
        """A new key with the same type, role and mode; the old one works for `grace` more
        (default 24 h, at most 7 days; zero revokes it at once)."""
        grace = DEFAULT_ROLL_GRACE if grace is None else grace
        if not timedelta(0) <= grace <= MAX_ROLL_GRACE:
            limit = int(MAX_ROLL_GRACE.total_seconds())
            raise InvalidArgument.field("grace_period_seconds", f"must be between 0 and {limit}")
        now = self._clock.now()
        async with self._uow() as uow:
            old = _found(await uow.api_keys.get(caller.merchant_id, key_id), key_id, caller)
            if not old.usable_at(now) or old.expires_at is not None:
                raise FailedPrecondition(
                    "Only an active key that was not rolled already can be rolled.",
                    reason="API_KEY_NOT_ROLLABLE",
                    metadata={"param": "id"},
                )
            _check_may_manage(caller, old)
            issued = self._issue(
                caller.merchant_id, old.type, old.role, old.livemode, old.allowed_ips
            )
            await uow.api_keys.add(issued.key)
            if grace:
                await uow.api_keys.expire(caller.merchant_id, key_id, now + grace)
            else:
                await uow.api_keys.revoke(caller.merchant_id, key_id, now)
            details = {"new_key": issued.key.id, "grace_seconds": str(int(grace.total_seconds()))}
            await uow.audit.append(_key_event(caller, Action.API_KEY_ROLL, old, now, details))
            await uow.commit()
        self.forget(old.lookup)
        return issued

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


def _allowed_ips(key_type: KeyType, values: Sequence[str]) -> tuple[str, ...]:
    violations = Violations()
    networks = ip_allowlist.parse_allowed_ips(values, violations)
    if networks and key_type is KeyType.PUBLISHABLE:
        # A publishable key is used from shoppers' browsers, at any address.
        violations.add(ip_allowlist.FIELD, "only a secret key can be restricted to networks")
    violations.raise_if_any()
    return networks


def _check_may_manage(caller: Principal, key: ApiKey) -> None:
    """Revoking or rolling a key is managing its role: the same ordering as granting it
    (roles.may_grant), so a DEVELOPER or an ADMIN cannot revoke an OWNER's key, which
    would lock the owner's integration out (a publishable key has no role: anyone who
    manages keys may)."""
    if key.role is not None and not may_grant(caller.role, key.role):
        raise PermissionDenied(
            f"Your role cannot manage a key with role {key.role.value}.",
            reason="ROLE_NOT_GRANTABLE",
            metadata={"param": "id"},
        )


def _default_role(caller: Principal) -> Role:
    """ADMIN, or the caller's own role when it may not grant ADMIN (a DEVELOPER's key)."""
    if may_grant(caller.role, Role.ADMIN) or caller.role is None:
        return Role.ADMIN
    return caller.role


def _found(key: ApiKey | None, key_id: str, caller: Principal) -> ApiKey:
    # Another merchant's key, or another mode's, is as absent as a key that never existed:
    # a test-mode session cannot revoke or roll a live key.
    if key is None or key.livemode != caller.livemode:
        # The id is echoed only when it looks like one: a secret pasted into the wrong
        # field must not come back in an error (and from there into a client's logs).
        shown = f": {key_id!r}" if has_prefix(key_id, "key") else ""
        raise NotFound(f"No such API key{shown}.", metadata={"param": "id"})
    return key


def _key_event(
    caller: Principal,
    action: Action,
    key: ApiKey,
    at: datetime,
    extra: dict[str, str] | None = None,
) -> AuditEvent:
    details = {"type": key.type.value, "prefix": key.lookup, **(extra or {})}
    if key.role is not None:
        details["role"] = key.role.value
    return caller_event(caller, action, at, target=key.id, details=details)
