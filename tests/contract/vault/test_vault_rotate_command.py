"""`paygate vault rotate` (servers/cli/vault_rotate.py) against PostgreSQL, while payments go on."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.crypto.kek import key_check_value
from adapters.sql.engine import create_engine
from adapters.sql.migrate import create_database, drop_database
from adapters.sql.vault.migrate import migrate_vault
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.model import KeyMaterial
from servers.bootstrap.vault import VaultComponents, build_vault
from servers.cli import vault_rotate as rotate_command
from servers.runtime.settings import Settings
from tests.contract.vault.vault_helpers import MASTERCARD, VISA, new_principal


def key_file(folder: Path, name: str) -> tuple[str, KeyMaterial]:
    raw = secrets.token_bytes(32)
    path = folder / name
    path.write_text(raw.hex())
    path.chmod(0o600)
    return f"file:{path}", KeyMaterial(raw)


@pytest.fixture
async def database(postgres_admin_url: str) -> AsyncIterator[str]:
    """The rotation touches every merchant: a database of this test's own."""
    name = f"paygate_vault_rotate_{secrets.token_hex(6)}"
    url = await create_database(postgres_admin_url, name)
    try:
        await migrate_vault(url)
        yield url
    finally:
        await drop_database(postgres_admin_url, name)


def card(number: str = VISA) -> CardInput:
    return CardInput(Secret(number), exp_month=12, exp_year=2030, cvc=Secret("737"))


async def pay(components: VaultComponents, merchant_id: str, payment_method: str) -> str:
    got = await components.vault.detokenize_for_payment(
        merchant_id, payment_method, purpose="authorize pa_rotation", actor="test"
    )
    return got.pan.reveal()


async def test_rotation_runs_while_payments_go_on_and_old_tokens_keep_working(
    database: str, tmp_path: Path
) -> None:
    old_spec, old_kek = key_file(tmp_path, "kek-old")
    fingerprint_spec, _ = key_file(tmp_path, "fingerprint")
    before = Settings(
        vault_database_url=database, vault_kek=old_spec, vault_fingerprint_key=fingerprint_spec
    )
    merchants = [new_principal() for _ in range(3)]
    hosted = build_vault(before)
    try:
        tokens = {
            m.merchant_id: [(await hosted.vault.tokenize_card(m, card())).id for _ in range(8)]
            for m in merchants
        }
        saved = {
            m.merchant_id: await hosted.vault.create_payment_method_from_token(
                m, tokens[m.merchant_id].pop()
            )
            for m in merchants
        }
    finally:
        await hosted.aclose()

    new_spec, new_kek = key_file(tmp_path, "kek-new")
    during = dataclasses.replace(
        before, vault_kek=new_spec, vault_previous_keks=(old_spec,), vault_batch_size=3
    )
    serving = build_vault(during)  # the gateway, configured like the job
    try:
        # Payments with half the tokens race the rotation job: every one of them succeeds.
        racing = [
            pay(serving, merchant_id, token_id)
            for merchant_id, ids in tokens.items()
            for token_id in ids[:4]
        ]
        report, *paid = await asyncio.gather(rotate_command.rotate(during), *racing)
        assert paid == [VISA] * len(racing)
        assert (report.merchants, report.keys_retired, report.keys_rewrapped) == (3, 3, 3)
        assert report.remaining == 0
        # Everything not paid above (3 tokens + 1 payment method per merchant) moved.
        assert report.payment_methods_reencrypted == 3
        assert report.tokens_reencrypted == 9
    finally:
        await serving.aclose()

    after = dataclasses.replace(before, vault_kek=new_spec)  # the old KEK is gone
    hosted = build_vault(after)
    try:
        for merchant in merchants:
            merchant_id = merchant.merchant_id
            for token_id in tokens[merchant_id][4:]:
                assert await pay(hosted, merchant_id, token_id) == VISA
            assert await pay(hosted, merchant_id, saved[merchant_id].id) == VISA
            fresh = await hosted.vault.tokenize_card(merchant, card(MASTERCARD))
            assert await pay(hosted, merchant_id, fresh.id) == MASTERCARD
    finally:
        await hosted.aclose()

    engine = create_engine(database, pool_size=1)
    try:
        async with engine.connect() as connection:
            keys = await connection.execute(
                text("SELECT version, kek_id, retired_at IS NULL FROM vault.data_keys")
            )
            rows = {tuple(row) for row in keys}
    finally:
        await engine.dispose()
    new_id = f"kcv-{key_check_value(new_kek)}"
    assert rows == {(1, new_id, False), (2, new_id, True)}
    assert f"kcv-{key_check_value(old_kek)}" != new_id


@pytest.fixture
def root_logging_restored() -> Iterator[None]:
    """main() configures logging for its process: put the test run's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_the_command_reports_as_json(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], root_logging_restored: None
) -> None:
    settings = Settings(vault_database_url=database, data_dir=tmp_path)
    assert rotate_command.main(["--batch-size", "5"], settings=settings) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["vault_rotation"]
    assert report["remaining"] == 0 and report["merchants"] == 0
    assert rotate_command.main(["--batch-size", "0"], settings=settings) == 2
