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
    # Where the web role serves its pages; the 3-D Secure challenge is {web_base_url}/3ds/pa_...
    web_base_url: str = "http://127.0.0.1:8080"
    # Seconds every simulated acquirer call takes (0: instant).
    simulator_latency: float = 0.0
    # Seconds before the UPI switch settles a collect to success@upi / failure@upi.
    upi_approval_delay: float = 2.0
    # Failed attempts an intent allows before confirm answers ATTEMPTS_EXHAUSTED.
    max_failed_attempts: int = 5

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "")
            return int(raw) if raw else default

        def seconds(name: str, default: float) -> float:
            raw = env.get(name, "")
            return float(raw) if raw else default

        http_port = integer("PAYGATE_HTTP_PORT", 8080)
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            data_dir=Path(env.get("PAYGATE_DATA_DIR", "var")),
            http_port=http_port,
            grpc_port=integer("PAYGATE_GRPC_PORT", 50051),
            envoy_admin_port=integer("PAYGATE_ENVOY_ADMIN_PORT", 9901),
            api_processes=integer("PAYGATE_API_PROCESSES", 2),
            api_base_port=integer("PAYGATE_API_BASE_PORT", 50061),
            log_level=env.get("PAYGATE_LOG_LEVEL", "INFO"),
            db_pool_size=integer("PAYGATE_DB_POOL_SIZE", 10),
            web_base_url=env.get("PAYGATE_WEB_BASE_URL", "") or f"http://127.0.0.1:{http_port}",
            simulator_latency=seconds("PAYGATE_SIMULATOR_LATENCY", 0.0),
            upi_approval_delay=seconds("PAYGATE_UPI_APPROVAL_DELAY", 2.0),
            max_failed_attempts=integer("PAYGATE_MAX_FAILED_ATTEMPTS", 5),
        )
