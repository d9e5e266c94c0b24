"""The vault's configuration: settings from the environment, development keys, KEKs,
the service credential and the CVC store choice."""

from __future__ import annotations

import logging
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.crypto.kek import KeyConfigError, key_check_value
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.redis.cvc_store import RedisCvcStore
from adapters.system import SystemClock
from core.shared.secret import Secret
from core.vault.model import DataKeyRef, KeyMaterial
from servers.bootstrap.vault import (
    cvc_store,
    dev_key,
    fingerprinter,
    kek_id_of,
    key_wrapper,
    rotation_policy,
    service_tokens,
)
from servers.runtime.settings import Settings


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PAYGATE_VAULT_TARGET": "vault.internal:50070",
            "VAULT_DATABASE_URL": "postgresql://vault@db/vault",
            "PAYGATE_VAULT_SERVICE_TOKEN": "s" * 40,
            "PAYGATE_VAULT_KEK": "file:/etc/paygate/kek",
            "PAYGATE_VAULT_PREVIOUS_KEKS": "file:/old/kek ; xor:env:A,env:B;",
            "PAYGATE_VAULT_FINGERPRINT_KEY": "env:FP",
            "PAYGATE_VAULT_KEY_MAX_AGE_DAYS": "30",
            "PAYGATE_VAULT_KEY_MAX_ENCRYPTIONS": "5000",
            "PAYGATE_VAULT_CVC_STORE": "redis",
        }
    )
    assert settings.vault_target == "vault.internal:50070"
    assert settings.vault_previous_keks == ("file:/old/kek", "xor:env:A,env:B")
    assert (settings.vault_key_max_age_days, settings.vault_key_max_encryptions) == (30, 5000)
    assert "s" * 40 not in repr(settings)  # the credential never shows
    policy = rotation_policy(settings)
    assert (policy.max_age.days, policy.max_encryptions) == (30, 5000)
    assert Settings.from_env({}).vault_target == ""  # embedded by default


def test_a_development_key_is_made_once_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "var" / "vault" / "kek"
    with caplog.at_level(logging.WARNING):
        first = dev_key(path, what="vault KEK")
    assert "development vault KEK" in caplog.text
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert dev_key(path, what="vault KEK").reveal() == first.reveal()
    assert first.reveal().hex() not in caplog.text
    assert [p.name for p in path.parent.iterdir()] == ["kek"]  # no scratch files left


def test_processes_starting_together_agree_on_one_development_key(tmp_path: Path) -> None:
    path = tmp_path / "vault" / "kek"
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: dev_key(path, what="KEK").reveal(), range(16)))
    assert len(set(keys)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["kek"]


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_bytes(secrets.token_bytes(32))
    os.chmod(path, 0o644)
    with pytest.raises(KeyConfigError, match="chmod 600"):
        dev_key(path, what="KEK")


def test_without_configuration_the_vault_uses_development_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    wrapper = key_wrapper(settings)
    kek = KeyMaterial((tmp_path / "vault" / "kek").read_bytes())
    assert wrapper.kek_id == kek_id_of(kek) == f"kcv-{key_check_value(kek)}"
    fingerprinter(settings)
    assert (tmp_path / "vault" / "fingerprint_key").exists()


async def test_previous_keks_still_unwrap(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text(secrets.token_hex(32))
    new.write_text(secrets.token_hex(32))
    ref = DataKeyRef("dek_1", 1)
    before = key_wrapper(Settings(vault_kek=f"file:{old}"))
    wrapped = await before.wrap(KeyMaterial(b"k" * 32), merchant_id="acct_1", ref=ref)
    after = key_wrapper(Settings(vault_kek=f"file:{new}", vault_previous_keks=(f"file:{old}",)))
    assert after.kek_id != before.kek_id
    unwrapped = await after.unwrap(wrapped, merchant_id="acct_1", ref=ref)
    assert unwrapped.reveal() == b"k" * 32
    with pytest.raises(KeyConfigError):
        key_wrapper(Settings(vault_kek=f"file:{new}", vault_previous_keks=(f"file:{new}",)))


@pytest.mark.parametrize(
    ("current", "previous", "error"),
    [("", "", "is required"), ("short", "", "at least 32"), ("x" * 40, "short", "at least 32")],
)
def test_the_service_credential_must_be_set_and_long(
    current: str, previous: str, error: str
) -> None:
    settings = Settings(
        vault_service_token=Secret(current), vault_service_token_previous=Secret(previous)
    )
    with pytest.raises(KeyConfigError, match=error):
        service_tokens(settings)


def test_both_service_credentials_are_accepted_while_rotating() -> None:
    settings = Settings(
        vault_service_token=Secret("a" * 32), vault_service_token_previous=Secret("b" * 32)
    )
    assert service_tokens(settings) == ["a" * 32, "b" * 32]


def test_the_cvc_store_follows_redis() -> None:
    clock = SystemClock()
    assert isinstance(cvc_store(Settings(), clock)[0], MemoryCvcStore)
    store, close = cvc_store(Settings(redis_url="redis://127.0.0.1:6379/15"), clock)
    assert isinstance(store, RedisCvcStore) and close is not None
    memory, _ = cvc_store(Settings(redis_url="redis://x", vault_cvc_store="memory"), clock)
    assert isinstance(memory, MemoryCvcStore)
    with pytest.raises(SystemExit):
        cvc_store(Settings(vault_cvc_store="redis"), clock)
    with pytest.raises(SystemExit):
        cvc_store(Settings(vault_cvc_store="disk"), clock)
