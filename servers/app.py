"""The composition root: builds adapters from settings and hands them to the use-cases."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.auth.jwt_tokens import JwtCodec
from adapters.auth.passwords import Argon2Hasher
from adapters.auth.signing_keys import load_or_create_signing_key, load_signing_key
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.ratelimit import LimitsRateLimiter
from adapters.sql.engine import create_engine
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.authentication import Auth
from core.access.gate import AccessGate
from core.access.membership import Members
from core.access.ports import AccessTokenCodec, PasswordHasher, RateLimiter
from core.access.rate_limits import DEFAULT_LIMITS, RateLimits
from core.access.use_cases import ApiKeys
from core.idempotency.use_cases import Idempotency
from core.payments.use_cases import PaymentIntents
from core.payments.vault_port import CardVault
from core.shared.ports import Clock, IdGenerator
from core.shared.unit_of_work import UnitOfWorkFactory
from core.vault.ports import VaultApi
from servers.grpc.client_address import LOOPBACK, IpNetwork, parse_networks
from servers.settings import Settings
from servers.vault.composition import VaultAccess, vault_access

log = logging.getLogger("paygate.app")

# The request-hash key when PAYGATE_IDEMPOTENCY_HASH_KEY is unset: fine for test mode on
# one machine, never for live card data (docs/idempotency.md).
DEVELOPMENT_HASH_KEY = b"paygate-development-idempotency-hash-key"


def in_process_idempotency() -> Idempotency:
    """Idempotency kept in this process: for tests and an App built by hand."""
    return Idempotency(MemoryIdempotencyStore(), SystemClock(), hash_key=DEVELOPMENT_HASH_KEY)


@dataclass
class App:
    api_keys: ApiKeys
    payment_intents: PaymentIntents
    auth: Auth
    members: Members
    gate: AccessGate
    trusted_proxies: tuple[IpNetwork, ...] = LOOPBACK
    engine: AsyncEngine | None = None
    idempotency: Idempotency = field(default_factory=in_process_idempotency)
    limiter: LimitsRateLimiter | None = None

    # The vault: in this process or a client of the vault role (servers/vault/).
    vault: VaultApi | None = None
    # What the payments core detokenizes through (hand it to the confirm use-case).
    card_vault: CardVault | None = None
    vault_access: VaultAccess | None = None

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
        if self.vault_access is not None:
            await self.vault_access.aclose()
        if self.engine is not None:
            await self.engine.dispose()


def assemble(
    uow: UnitOfWorkFactory,
    ids: IdGenerator,
    clock: Clock,
    *,
    limiter: RateLimiter,
    hasher: PasswordHasher,
    tokens: AccessTokenCodec,
    rate_limit_defaults: Mapping[str, tuple[str, ...]] = DEFAULT_LIMITS,
) -> App:
    """The use-cases over the given adapters: build_app's wiring, and the tests'."""
    api_keys = ApiKeys(uow, ids, clock)
    auth = Auth(uow, ids, clock, hasher, tokens)
    rate_limits = RateLimits(limiter, uow, clock, defaults=rate_limit_defaults)
    return App(
        api_keys=api_keys,
        payment_intents=PaymentIntents(uow, ids, clock),
        auth=auth,
        members=Members(uow, ids, clock),
        gate=AccessGate(api_keys, auth, rate_limits),
    )


def build_app(settings: Settings, database_url: str) -> App:
    engine = create_engine(database_url, pool_size=settings.db_pool_size)
    ids, clock = RandomIds(), SystemClock()
    hash_key = settings.idempotency_hash_key.encode()
    if not hash_key:
        log.warning("PAYGATE_IDEMPOTENCY_HASH_KEY is not set: using the development key")
        hash_key = DEVELOPMENT_HASH_KEY
    # Redis in production, so that every API process counts against the same limits;
    # in-process in the embedded mode (one process, nothing to share).
    limiter = LimitsRateLimiter(settings.redis_url or "memory://")
    signing_key = (
        load_signing_key(settings.jwt_signing_key)
        if settings.jwt_signing_key
        else load_or_create_signing_key(settings.data_dir / "secrets" / "jwt-ed25519.pem")
    )
    tokens = JwtCodec(
        signing_key, clock, issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app = assemble(
        SqlUnitOfWorkFactory(engine),
        ids,
        clock,
        limiter=limiter,
        hasher=Argon2Hasher(),
        tokens=tokens,
    )
    app.engine, app.limiter = engine, limiter
    app.idempotency = Idempotency(SqlIdempotencyStore(engine), clock, hash_key=hash_key)
    app.trusted_proxies = parse_networks(settings.trusted_proxies)
    # Embedded, the vault uses VAULT_DATABASE_URL or else this database (its own schema).
    vault = vault_access(dataclasses.replace(settings, database_url=database_url))
    app.vault, app.card_vault, app.vault_access = vault.api, vault.cards, vault
    return app
