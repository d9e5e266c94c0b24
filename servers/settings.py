"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.shared.secret import Secret

_NO_SECRET = Secret("")  # immutable: safe to share as a dataclass default


@dataclass(frozen=True)
class Settings:
    # postgresql+asyncpg://...; empty means the embedded PostgreSQL under data_dir/pg.
    database_url: str = ""
    # redis://...; empty means the in-process cache and rate limiter.
    redis_url: str = ""
    data_dir: Path = Path("var")
    http_port: int = 8080
    grpc_port: int = 50051
    envoy_admin_port: int = 9901
    api_processes: int = 2
    # API process i listens on 127.0.0.1:(api_base_port + i); only Envoy talks to them.
    api_base_port: int = 50061
    log_level: str = "INFO"
    db_pool_size: int = 10

    # --- the vault (docs/vault.md) ------------------------------------------------------
    # host:port of the vault role (`paygate serve --role vault`); empty = the vault runs
    # inside this process (embedded mode).
    vault_target: str = ""
    # The vault's own database (split mode); empty = database_url. Only the vault role
    # (or an embedded process) opens it.
    vault_database_url: str = ""
    # The credential the payments core / API role presents to the vault role, and the
    # vault role requires. Both sides need it in split mode; unused in embedded mode.
    vault_service_token: Secret = _NO_SECRET
    # Accepted too while the credential is being rotated (vault side only).
    vault_service_token_previous: Secret = _NO_SECRET
    # The KEK: file:PATH, env:NAME or xor:SPEC,SPEC (adapters/crypto/kek.py). Empty = a
    # development KEK generated under data_dir/vault/ on first start (with a warning).
    vault_kek: str = ""
    # Older KEKs that still unwrap data keys until `paygate vault rotate` has re-wrapped
    # them, separated by ";" (a spec may itself contain commas: xor:...).
    vault_previous_keks: tuple[str, ...] = ()
    # The fingerprint HMAC key, as a key spec; empty = a development key under data_dir.
    vault_fingerprint_key: str = ""
    # Data key rotation: a data key stops encrypting after this age or this many uses.
    vault_key_max_age_days: int = 90
    vault_key_max_encryptions: int = 1_000_000
    # Where CVCs wait for their authorization: "memory" or "redis" (sealed, with a TTL).
    # Empty = redis when redis_url is set (several vault replicas), else memory.
    vault_cvc_store: str = ""
    # Rows per transaction of the rotation job and the expiry sweep.
    vault_batch_size: int = 200
    # TLS on the vault channel (PEM file paths). Vault role: its certificate and key, and
    # vault_tls_ca = the CA that callers' certificates must chain to (mutual TLS). Callers:
    # vault_tls_ca = the CA of the vault's certificate, plus their client certificate.
    vault_tls_cert: str = ""
    vault_tls_key: str = ""
    vault_tls_ca: str = ""
    vault_tls_client_cert: str = ""
    vault_tls_client_key: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "")
            return int(raw) if raw else default

        return cls(
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            data_dir=Path(env.get("PAYGATE_DATA_DIR", "var")),
            http_port=integer("PAYGATE_HTTP_PORT", 8080),
            grpc_port=integer("PAYGATE_GRPC_PORT", 50051),
            envoy_admin_port=integer("PAYGATE_ENVOY_ADMIN_PORT", 9901),
            api_processes=integer("PAYGATE_API_PROCESSES", 2),
            api_base_port=integer("PAYGATE_API_BASE_PORT", 50061),
            log_level=env.get("PAYGATE_LOG_LEVEL", "INFO"),
            db_pool_size=integer("PAYGATE_DB_POOL_SIZE", 10),
            vault_target=env.get("PAYGATE_VAULT_TARGET", ""),
            vault_database_url=env.get("VAULT_DATABASE_URL", ""),
            vault_service_token=Secret(env.get("PAYGATE_VAULT_SERVICE_TOKEN", "")),
            vault_service_token_previous=Secret(
                env.get("PAYGATE_VAULT_SERVICE_TOKEN_PREVIOUS", "")
            ),
            vault_kek=env.get("PAYGATE_VAULT_KEK", ""),
            vault_previous_keks=tuple(
                spec.strip()
                for spec in env.get("PAYGATE_VAULT_PREVIOUS_KEKS", "").split(";")
                if spec.strip()
            ),
            vault_fingerprint_key=env.get("PAYGATE_VAULT_FINGERPRINT_KEY", ""),
            vault_key_max_age_days=integer("PAYGATE_VAULT_KEY_MAX_AGE_DAYS", 90),
            vault_key_max_encryptions=integer("PAYGATE_VAULT_KEY_MAX_ENCRYPTIONS", 1_000_000),
            vault_cvc_store=env.get("PAYGATE_VAULT_CVC_STORE", ""),
            vault_batch_size=integer("PAYGATE_VAULT_BATCH_SIZE", 200),
            vault_tls_cert=env.get("PAYGATE_VAULT_TLS_CERT", ""),
            vault_tls_key=env.get("PAYGATE_VAULT_TLS_KEY", ""),
            vault_tls_ca=env.get("PAYGATE_VAULT_TLS_CA", ""),
            vault_tls_client_cert=env.get("PAYGATE_VAULT_TLS_CLIENT_CERT", ""),
            vault_tls_client_key=env.get("PAYGATE_VAULT_TLS_CLIENT_KEY", ""),
        )
