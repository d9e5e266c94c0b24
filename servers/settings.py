"""Typed settings, read once from the environment by the composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
    # FX rates older than this are not used (FX_RATE_UNAVAILABLE): load a fresh rates file
    # daily with `paygate fx load`.
    fx_max_age_hours: int = 36

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
            fx_max_age_hours=integer("PAYGATE_FX_MAX_AGE_HOURS", 36),
        )
