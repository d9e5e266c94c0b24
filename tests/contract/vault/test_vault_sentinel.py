"""No card number or CVC outside the vault: run the vault's whole surface with sentinel
cards (tokenize, save, list, pay with a token and a payment method, refused and invalid
requests, a tampered ciphertext), embedded and split, on PostgreSQL and Redis, with every
log at DEBUG (SQLAlchemy's statement and parameter logging included), then scan every
table outside the vault schema, the logs (caplog and the process's stdout/stderr) and
every Redis key and value: zero hits.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from paygate.v1 import (
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from sqlalchemy import text

from adapters.redis.cvc_store import KEY_PREFIX
from adapters.sql.engine import create_engine
from core.shared.secret import Secret
from servers.bootstrap.app import App, build_app
from servers.bootstrap.vault import build_vault
from servers.roles.api import start as start_api
from servers.roles.vault.server import start as start_vault
from servers.runtime import logging_setup
from servers.runtime.settings import Settings
from tests.sentinel import Sentinels, scan_redis, scan_tables, tables

SERVICE_TOKEN = "sentinel-test-service-token-0123456789abc"


class _CurrentStdout:
    """sys.stdout as it is when written to (capture swaps it during a test)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs_at_debug(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """The servers' own JSON-lines logging at DEBUG on stdout, and caplog, both at once.
    (After capfd: the handler binds the sys.stdout that capfd captures.)"""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    logging_setup.configure("DEBUG")
    for handler in root.handlers:  # the JSON-lines handler, to the stdout capfd captures
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_CurrentStdout())  # type: ignore[arg-type]
    root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its loggers at WARN unless told: statements, parameters and rows.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def exercise(app: App, sentinels: Sentinels, redis_url: str, vault_url: str) -> None:
    """Everything a merchant and the payments core do with cards, through the API role."""
    shop = await app.api_keys.seed_merchant("Sentinel shop")
    other = await app.api_keys.seed_merchant("Other shop")
    assert app.card_vault is not None
    server, _, port = await start_api(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            tokens = tokens_pb2_grpc.TokenServiceStub(channel)
            methods = payment_methods_pb2_grpc.PaymentMethodServiceStub(channel)
            pk, sk = shop.publishable_key.plaintext, shop.secret_key.plaintext

            async def tokenize(number: str, cvc: str, **fields: int) -> tokens_pb2.Token:
                card = tokens_pb2.CardInput(
                    number=number, exp_month=12, exp_year=2031, cvc=cvc, name="Sentinel"
                )
                for name, value in fields.items():
                    setattr(card, name, value)
                return await tokens.CreateToken(
                    tokens_pb2.CreateTokenRequest(card=card), metadata=auth(pk)
                )

            visa, amex = sentinels.pan("4"), sentinels.pan("37", 15)
            paid = await tokenize(visa, sentinels.cvc())
            grouped = " ".join(visa[i : i + 4] for i in range(0, 16, 4))
            saved = await tokenize(grouped, sentinels.cvc())
            amex_token = await tokenize(amex, sentinels.cvc(4))
            # The CVC waits in Redis, sealed, until its authorization.
            import redis.asyncio

            raw = redis.asyncio.Redis.from_url(redis_url)
            try:
                assert await raw.exists(KEY_PREFIX + paid.id)
            finally:
                await raw.aclose()

            for bad in (
                {"exp_month": 13},  # invalid: the number must not be echoed
                {"exp_year": 2001},
            ):
                with pytest.raises(grpc.aio.AioRpcError):
                    await tokenize(sentinels.pan("4"), sentinels.cvc(), **bad)
            with pytest.raises(grpc.aio.AioRpcError):
                await tokenize(visa[:-1] + str((int(visa[-1]) + 1) % 10), sentinels.cvc())

            pm = await methods.CreatePaymentMethod(
                payment_methods_pb2.CreatePaymentMethodRequest(token=saved.id, customer="cus_1"),
                metadata=auth(sk),
            )
            await methods.ListPaymentMethods(
                payment_methods_pb2.ListPaymentMethodsRequest(customer="cus_1"), metadata=auth(sk)
            )
            with pytest.raises(grpc.aio.AioRpcError):  # a PAN where a token id belongs
                await methods.CreatePaymentMethod(
                    payment_methods_pb2.CreatePaymentMethodRequest(token=visa), metadata=auth(sk)
                )
            with pytest.raises(grpc.aio.AioRpcError):
                await methods.GetPaymentMethod(
                    payment_methods_pb2.GetPaymentMethodRequest(id=pm.id),
                    metadata=auth(other.secret_key.plaintext),
                )
            # A ciphertext that does not open: an INTERNAL error, logged with its traceback.
            victim, target = await tokenize(amex, ""), await tokenize(sentinels.pan("5"), "")
            await _copy_ciphertext(vault_url, victim.id, target.id)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await methods.CreatePaymentMethod(
                    payment_methods_pb2.CreatePaymentMethodRequest(token=target.id),
                    metadata=auth(sk),
                )
            assert raised.value.code() == grpc.StatusCode.INTERNAL

        # The payments core's side: a token once, a payment method twice, refusals.
        merchant = shop.merchant.id
        found = await app.card_vault.card_for_payment(
            merchant, paid.id, livemode=False, purpose="authorize pa_1"
        )
        assert found.card.number.reveal() == visa and found.card.cvc is not None
        assert (
            await app.card_vault.card_for_payment(merchant, pm.id, livemode=False, purpose="p")
        ).card.cvc is not None
        await app.card_vault.card_for_payment(
            merchant, pm.id, livemode=False, purpose="authorize pa_2"
        )
        await app.card_vault.card_for_payment(merchant, amex_token.id, livemode=False, purpose="p")
        for refused in (paid.id, visa, f"pm_{visa}"):
            with pytest.raises(Exception):  # noqa: B017 - used, and not ids at all
                await app.card_vault.card_for_payment(
                    merchant, refused, livemode=False, purpose=f"for {visa}"
                )
    finally:
        await server.stop(None)


async def _copy_ciphertext(vault_url: str, source: str, target: str) -> None:
    engine = create_engine(vault_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE vault.tokens AS t SET ciphertext = s.ciphertext FROM vault.tokens AS s"
                    " WHERE t.id = :target AND s.id = :source"
                ),
                {"source": source, "target": target},
            )
    finally:
        await engine.dispose()


async def assert_no_leaks(
    sentinels: Sentinels,
    database_urls: list[str],
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    hits: list[str] = []
    rows = 0
    for url in database_urls:
        engine = create_engine(url, pool_size=1)
        try:
            names = await tables(engine, exclude_schemas=["vault"])
            found, seen = await scan_tables(engine, sentinels, names)
            hits += found
            rows += seen
            # Inside the vault too, nothing is in clear (only last4 of the summary).
            found, _ = await scan_tables(
                engine, sentinels, [n for n in await tables(engine) if n.startswith("vault.")]
            )
            hits += found
        finally:
            await engine.dispose()
    found, keys = await scan_redis(redis_url, sentinels)
    hits += found

    captured = capfd.readouterr()
    log_lines = [r.getMessage() + json.dumps(getattr(r, "fields", {}), default=str)
                 for r in caplog.records]  # fmt: skip
    hits += sentinels.hits_in_text("\n".join(log_lines), "caplog")
    hits += sentinels.hits_in_text(caplog.text, "caplog text")
    hits += sentinels.hits_in_text(captured.out, "stdout")
    hits += sentinels.hits_in_text(captured.err, "stderr")

    # The scan saw what it had to see: rows, logs (with SQL parameters) and Redis keys.
    assert rows > 0 and keys >= 0
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert any(r.name == "paygate.access" for r in caplog.records)
    assert '"logger": "paygate.access"' in captured.out
    assert "CiphertextRejected" in caplog.text  # the traceback was logged, and scanned
    assert hits == []


async def test_embedded_vault_leaks_no_card_data(
    embedded_database_url: str,
    redis_url: str,
    tmp_path: Path,
    logs_at_debug: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sentinels = Sentinels()
    settings = Settings(
        database_url=embedded_database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        vault_cvc_store="redis",
    )
    app = build_app(settings, embedded_database_url)
    try:
        await exercise(app, sentinels, redis_url, embedded_database_url)
    finally:
        await app.aclose()
    # The development keys were generated, private to the owner.
    assert (tmp_path / "vault" / "kek").stat().st_mode & 0o777 == 0o600
    await assert_no_leaks(sentinels, [embedded_database_url], redis_url, caplog, capfd)


async def test_split_vault_leaks_no_card_data(
    embedded_database_url: str,
    vault_database_url: str,
    redis_url: str,
    tmp_path: Path,
    logs_at_debug: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sentinels = Sentinels()
    vault_settings = Settings(
        vault_database_url=vault_database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "vault-node",
        vault_cvc_store="redis",
        vault_service_token=Secret(SERVICE_TOKEN),
    )
    hosted = build_vault(vault_settings)
    vault_server, _, port = await start_vault(hosted.vault, "127.0.0.1:0", tokens=[SERVICE_TOKEN])
    api_settings = Settings(
        database_url=embedded_database_url,
        data_dir=tmp_path / "api-node",
        vault_target=f"127.0.0.1:{port}",
        vault_service_token=Secret(SERVICE_TOKEN),
    )
    app = build_app(api_settings, embedded_database_url)
    try:
        await exercise(app, sentinels, redis_url, vault_database_url)
    finally:
        await app.aclose()
        await vault_server.stop(None)
        await hosted.aclose()
    # The API node never had a key of the vault's.
    assert not (tmp_path / "api-node" / "vault").exists()
    engine = create_engine(vault_database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            audit = await connection.execute(
                text(
                    "SELECT actor, outcome FROM vault.detokenization_audit"
                    " WHERE purpose LIKE 'authorize%'"
                )
            )
            assert ("service:payments", "GRANTED") in {tuple(row) for row in audit}
    finally:
        await engine.dispose()
    await assert_no_leaks(
        sentinels, [embedded_database_url, vault_database_url], redis_url, caplog, capfd
    )
