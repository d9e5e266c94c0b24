"""The vault's composition root: builds the vault (or a client of the vault role) from
Settings. servers/bootstrap/app.py calls it for the API role; servers/roles/vault/server.py
for the vault role; servers/cli/vault_rotate.py for `paygate vault rotate`.

    embedded (PAYGATE_VAULT_TARGET empty)   Vault use-cases in this process, on
                                            VAULT_DATABASE_URL or DATABASE_URL
    split (PAYGATE_VAULT_TARGET=host:port)  GrpcVault: this process never holds a KEK,
                                            a data key or the vault's database credentials
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import AesGcmKeyWrapper, KeyConfigError, key_check_value, load_key
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.redis.card_profiles import RedisProfileHandoff
from adapters.redis.cvc_store import RedisCvcStore
from adapters.sql.engine import create_engine
from adapters.sql.vault.migrate import migrate_vault
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from adapters.vault.grpc_client import GrpcVault
from adapters.vault.in_process import InProcessCardVault
from core.payments.ports import VaultForPayments
from core.shared.ports import Clock
from core.vault.model import KeyMaterial, RotationPolicy
from core.vault.ports import CvcStore, VaultApi
from core.vault.rotation import KeyRotation
from core.vault.use_cases import Vault
from servers.grpc import context as call
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.vault")

DEV_KEK_FILE = "kek"
DEV_FINGERPRINT_KEY_FILE = "fingerprint_key"
# A service credential shorter than this is refused: it is a bearer secret.
MIN_SERVICE_TOKEN_CHARS = 32

Closer = Callable[[], Awaitable[None]]


# --- keys ------------------------------------------------------------------------------


def dev_key(path: Path, *, what: str) -> KeyMaterial:
    """The development key at `path`, generated (32 random bytes, mode 0600, in a 0700
    folder) on first use. Safe when several processes start at once: the key is written
    to a temporary file and linked into place, so everybody reads the one that won."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(scratch, path)
            log.warning(
                "generated a development %s: fine for a laptop, never for production "
                "(set the environment variable named in docs/vault.md)",
                what,
                extra={"fields": {"path": str(path)}},
            )
        except FileExistsError:
            pass  # another process generated it first: use that one
        finally:
            scratch.unlink()
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyConfigError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    return load_key(f"file:{path}")


def kek_id_of(kek: KeyMaterial) -> str:
    """A KEK's id, stored with every data key it wraps: its key check value."""
    return f"kcv-{key_check_value(kek)}"


def key_wrapper(settings: Settings) -> AesGcmKeyWrapper:
    """The current KEK (wraps) and the previous ones (still unwrap)."""
    vault_dir = Path(settings.data_dir) / "vault"
    if settings.vault_kek:
        current = load_key(settings.vault_kek)
    else:
        current = dev_key(vault_dir / DEV_KEK_FILE, what="vault KEK (PAYGATE_VAULT_KEK unset)")
        log.warning(
            "the vault runs on a development KEK",
            extra={"fields": {"kcv": key_check_value(current)}},
        )
    keks = {kek_id_of(current): current}
    for spec in settings.vault_previous_keks:
        previous = load_key(spec)
        if kek_id_of(previous) in keks:
            raise KeyConfigError("two configured KEKs have the same key check value")
        keks[kek_id_of(previous)] = previous
    log.info(
        "vault KEKs loaded",
        extra={
            "fields": {
                "current": kek_id_of(current),
                "previous": sorted(set(keks) - {kek_id_of(current)}),
            }
        },
    )
    return AesGcmKeyWrapper(keks, current=kek_id_of(current))


def fingerprinter(settings: Settings) -> HmacFingerprinter:
    if settings.vault_fingerprint_key:
        key = load_key(settings.vault_fingerprint_key)
    else:
        key = dev_key(
            Path(settings.data_dir) / "vault" / DEV_FINGERPRINT_KEY_FILE,
            what="card fingerprint key (PAYGATE_VAULT_FINGERPRINT_KEY unset)",
        )
    return HmacFingerprinter(key)


def rotation_policy(settings: Settings) -> RotationPolicy:
    return RotationPolicy(
        max_age=timedelta(days=settings.vault_key_max_age_days),
        max_encryptions=settings.vault_key_max_encryptions,
    )


def service_tokens(settings: Settings) -> list[str]:
    """The credentials the vault role accepts (current first)."""
    tokens = [
        t.reveal()
        for t in (settings.vault_service_token, settings.vault_service_token_previous)
        if t.reveal()
    ]
    if not tokens:
        raise KeyConfigError(
            "PAYGATE_VAULT_SERVICE_TOKEN is required in split mode (both the vault role and "
            "the processes that call it)"
        )
    if any(len(t) < MIN_SERVICE_TOKEN_CHARS for t in tokens):
        raise KeyConfigError(
            f"PAYGATE_VAULT_SERVICE_TOKEN must have at least {MIN_SERVICE_TOKEN_CHARS} characters"
        )
    return tokens


# --- TLS on the vault channel ----------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyConfigError(f"{what} {path}: {exc.strerror}") from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The vault role's TLS: none without a certificate; mutual TLS when a CA is set
    (callers must then present a certificate that chains to it)."""
    if not (settings.vault_tls_cert or settings.vault_tls_key):
        return None
    if not (settings.vault_tls_cert and settings.vault_tls_key):
        raise KeyConfigError("PAYGATE_VAULT_TLS_CERT and PAYGATE_VAULT_TLS_KEY go together")
    pair = (
        _read(settings.vault_tls_key, "PAYGATE_VAULT_TLS_KEY"),
        _read(settings.vault_tls_cert, "PAYGATE_VAULT_TLS_CERT"),
    )
    ca = _read(settings.vault_tls_ca, "PAYGATE_VAULT_TLS_CA") if settings.vault_tls_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=bool(ca))


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """A caller's TLS to the vault role: none without a CA; a client certificate if set."""
    if not settings.vault_tls_ca:
        if settings.vault_tls_client_cert or settings.vault_tls_client_key:
            raise KeyConfigError("a client certificate for the vault needs PAYGATE_VAULT_TLS_CA")
        return None
    if bool(settings.vault_tls_client_cert) != bool(settings.vault_tls_client_key):
        raise KeyConfigError(
            "PAYGATE_VAULT_TLS_CLIENT_CERT and PAYGATE_VAULT_TLS_CLIENT_KEY go together"
        )
    return grpc.ssl_channel_credentials(
        root_certificates=_read(settings.vault_tls_ca, "PAYGATE_VAULT_TLS_CA"),
        private_key=(
            _read(settings.vault_tls_client_key, "PAYGATE_VAULT_TLS_CLIENT_KEY")
            if settings.vault_tls_client_key
            else None
        ),
        certificate_chain=(
            _read(settings.vault_tls_client_cert, "PAYGATE_VAULT_TLS_CLIENT_CERT")
            if settings.vault_tls_client_cert
            else None
        ),
    )


# --- the vault itself ------------------------------------------------------------------


def vault_database_url(settings: Settings) -> str:
    url = settings.vault_database_url or settings.database_url
    if not url:
        raise SystemExit("VAULT_DATABASE_URL or DATABASE_URL is required for the vault")
    return url


async def migrate(settings: Settings) -> None:
    """`paygate migrate`'s part for the vault: the vault's own chain, on VAULT_DATABASE_URL
    or the shared database. Not for an API node in split mode (PAYGATE_VAULT_TARGET set):
    the vault node migrates its database itself."""
    await migrate_vault(vault_database_url(settings))


def cvc_store(settings: Settings, clock: Clock) -> tuple[CvcStore, Closer | None]:
    kind = settings.vault_cvc_store or ("redis" if settings.redis_url else "memory")
    if kind == "memory":
        return MemoryCvcStore(clock), None
    if kind == "redis":
        if not settings.redis_url:
            raise SystemExit("PAYGATE_VAULT_CVC_STORE=redis needs REDIS_URL")
        store = RedisCvcStore.from_url(settings.redis_url, clock)
        return store, store.aclose
    raise SystemExit(f"PAYGATE_VAULT_CVC_STORE must be memory or redis, not {kind!r}")


@dataclass
class VaultComponents:
    """The vault and what it holds open, in the process that hosts it."""

    vault: Vault
    uow: SqlVaultUnitOfWorkFactory
    engine: AsyncEngine
    batch_size: int
    closers: list[Closer] = field(default_factory=list)

    def key_rotation(self) -> KeyRotation:
        return KeyRotation(self.uow, self.vault.keyring, batch_size=self.batch_size)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()
        await self.engine.dispose()


def profile_handoff(settings: Settings) -> RedisProfileHandoff | None:
    """Where the zone hands card profiles to the API processes (split mode; needs Redis,
    adapters/vault/profile_handoff.py); None without REDIS_URL."""
    return (
        RedisProfileHandoff.from_url(settings.redis_url, SystemClock())
        if settings.redis_url
        else None
    )


def build_vault(settings: Settings, *, clock: Clock | None = None) -> VaultComponents:
    clock = clock or SystemClock()
    engine = create_engine(
        vault_database_url(settings),
        pool_size=settings.db_pool_size,
        command_timeout=settings.db_command_timeout,
    )
    uow = SqlVaultUnitOfWorkFactory(engine)
    cvcs, close_cvcs = cvc_store(settings, clock)
    vault = Vault(
        uow,
        cipher=AesGcmCipher(),
        key_wrapper=key_wrapper(settings),
        fingerprinter=fingerprinter(settings),
        cvc_store=cvcs,
        ids=RandomIds(),
        clock=clock,
        rotation=rotation_policy(settings),
    )
    closers = [close_cvcs] if close_cvcs else []
    return VaultComponents(vault, uow, engine, settings.vault_batch_size, closers)


# --- what the API role and the payments core get -------------------------------------


@dataclass
class VaultAccess:
    """The vault as the API role sees it: the public operations, the payments core's
    port, and (embedded only) the hosted vault for its background upkeep."""

    api: VaultApi
    cards: VaultForPayments
    hosted: VaultComponents | None
    aclose: Closer


def vault_access(settings: Settings) -> VaultAccess:
    if settings.vault_target:
        # The card profiles the vault role hands over at tokenization (same REDIS_URL).
        profiles = profile_handoff(settings)
        client = GrpcVault.connect(
            settings.vault_target,
            service_token=service_tokens(settings)[0],
            credentials=channel_credentials(settings),
            timeout_seconds=settings.vault_timeout,
            request_id=call.request_id.get,
            profiles=profiles,
        )

        async def aclose() -> None:
            await client.aclose()
            if profiles is not None:
                await profiles.aclose()

        return VaultAccess(client, client, None, aclose)
    hosted = build_vault(settings)
    return VaultAccess(hosted.vault, InProcessCardVault(hosted.vault), hosted, hosted.aclose)
