"""The test doubles: in-memory implementations of core's ports, and deterministic clock and
ids for tests that assert on exact values; cheap real crypto.

    unit_of_work.py    MemoryUnitOfWorkFactory: payments, ledger and access in one store
    transaction.py     the copy-on-write transaction under it
    ledger.py, access.py, reconciliation.py   the repositories of those contexts
    vault.py, card_vault.py                   the vault's unit of work and the CardVault port

tests/contract/ runs every case against these and the real adapters alike, so the fakes
that the fast core tests use cannot drift from PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import argon2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.auth.jwt_tokens import JwtCodec
from adapters.auth.passwords import Argon2Hasher
from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import AesGcmKeyWrapper
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.ratelimit import LimitsRateLimiter
from adapters.system import RandomIds, SystemClock
from adapters.vault.in_process import InProcessCardVault
from core.access.model import Principal
from core.access.rate_limits import DEFAULT_LIMITS
from core.access.roles import Role
from core.access.use_cases import SeededMerchant
from core.payments.ports import CardVault
from core.shared.ids import encode, uuid7_int
from core.shared.ports import Clock, IdGenerator
from core.unit_of_work import UnitOfWorkFactory
from core.vault.model import KeyMaterial
from core.vault.use_cases import Vault
from servers.bootstrap.app import App, assemble
from servers.runtime.settings import Settings
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.fakes.vault import MemoryVaultUnitOfWorkFactory

EPOCH = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


class FixedClock:
    """Stands still until told to move."""

    def __init__(self, at: datetime = EPOCH) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


class SequentialIds:
    """Ids in creation order (like the real ones) and predictable secrets."""

    def __init__(self, clock: FixedClock | None = None) -> None:
        self._clock = clock or FixedClock()
        self._count = 0

    def new(self, prefix: str) -> str:
        self._count += 1
        unix_ms = int(self._clock.now().timestamp() * 1000)
        return encode(prefix, uuid7_int(unix_ms, 0, self._count))

    def secret(self, nbytes: int = 24) -> str:
        self._count += 1
        # As long as token_urlsafe(nbytes) would be; the counter keeps the first 8 unique.
        return f"{self._count:08d}".ljust(max(-(-nbytes * 4 // 3), 8), "x")


def cheap_hasher() -> Argon2Hasher:
    """The real argon2id hasher at its cheapest parameters: milliseconds, not 50 ms."""
    return Argon2Hasher(argon2.profiles.CHEAPEST)


def token_codec(clock: Clock) -> JwtCodec:
    return JwtCodec(Ed25519PrivateKey.generate(), clock)


def in_memory_app(
    uow: UnitOfWorkFactory | None = None,
    *,
    settings: Settings | None = None,
    card_vault: CardVault | None = None,
    ids: IdGenerator | None = None,
    clock: Clock | None = None,
    rate_limit_defaults: Mapping[str, tuple[str, ...]] = DEFAULT_LIMITS,
) -> App:
    """The wiring of servers.bootstrap.app over in-process adapters, for gRPC tests that need
    no database.

    Tests swap single use-cases on the result (app.idempotency = ...).
    """
    clock = clock or SystemClock()
    limiter = LimitsRateLimiter("memory://")
    vault = in_memory_vault(clock)
    uow = uow or MemoryUnitOfWorkFactory()
    app = assemble(
        # Webhook endpoints on this machine (nothing is sent without a worker).
        settings or Settings(upi_approval_delay=0, webhook_allowed_networks="127.0.0.1/32"),
        uow,
        ids or RandomIds(),
        clock,
        card_vault=card_vault or InProcessCardVault(vault),
        limiter=limiter,
        hasher=cheap_hasher(),
        tokens=token_codec(clock),
        rate_limit_defaults=rate_limit_defaults,
        # The memory unit of work tells its own feed about every commit.
        intent_changes=uow.store.changes if isinstance(uow, MemoryUnitOfWorkFactory) else None,
    )
    app.vault = vault
    app.closers.append(limiter.aclose)
    return app


def in_memory_vault(clock: Clock) -> Vault:
    """A vault with fresh random keys over in-memory tables."""
    return Vault(
        MemoryVaultUnitOfWorkFactory(),
        cipher=AesGcmCipher(),
        key_wrapper=AesGcmKeyWrapper({"kek-test": KeyMaterial(os.urandom(32))}, current="kek-test"),
        fingerprinter=HmacFingerprinter(KeyMaterial(os.urandom(32))),
        cvc_store=MemoryCvcStore(clock),
        ids=RandomIds(),
        clock=clock,
    )


def admin_of(seeded: SeededMerchant) -> Principal:
    """The seeded merchant's test-mode ADMIN, as its secret key."""
    return Principal(
        merchant_id=seeded.merchant.id,
        livemode=False,
        actor=seeded.secret_key.key.id,
        role=Role.ADMIN,
    )
