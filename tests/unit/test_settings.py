from __future__ import annotations

from pathlib import Path

from core.shared.secret import Secret
from servers.runtime.settings import Settings


def test_settings_survive_the_trip_through_the_environment() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://u:p@db:5432/x",
        redis_url="redis://r:6379/1",
        data_dir=Path("/srv/paygate"),
        http_port=1,
        api_processes=4,
        log_level="DEBUG",
        vault_service_token=Secret("a-service-token"),
        vault_previous_keks=("env:OLD_KEK", "xor:file:a,file:b"),
    )
    assert Settings.from_env(settings.to_env()) == settings


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    assert Settings.from_env({"PAYGATE_JWT_ISSUER": "", "PAYGATE_HTTP_PORT": ""}) == Settings()
    assert Settings.from_env({"PAYGATE_HTTP_PORT": "9000"}).http_port == 9000
