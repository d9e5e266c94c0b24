"""What a card payment's two vault writes cost on the wire: every statement the vault's
units of work send to PostgreSQL, counted by asyncpg's own query logger (one entry per
statement sent, transaction control included), in the steady state (data key unwrapped
and its block of encryptions reserved, statements prepared).

Tokenization writes one INSERT, alone (no BEGIN, no COMMIT); a token's use at confirm is an
unlocked read and one statement alone (the versioned UPDATE with its audit row).
docs/performance.md, "The vault's two writes, alone".
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWork, SqlVaultUnitOfWorkFactory
from tests.contract.round_trips import CountedPool
from tests.contract.vault.vault_helpers import VaultHarness, make_harness


class _Counted(SqlVaultUnitOfWork):
    def __init__(self, engine: AsyncEngine, sent: list[str]) -> None:
        super().__init__(engine)
        self._sent = sent
        self._driver: Any = None

    def _log(self, record: Any) -> None:
        self._sent.append(" ".join(str(record.query).split()))

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._driver = self.connection._driver
        self._driver.add_query_logger(self._log)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await super().__aexit__(*exc_info)
        finally:
            await asyncio.sleep(0)  # the logger is called soon after each statement
            self._driver.remove_query_logger(self._log)


class _CountingFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sent: list[str] = []

    def __call__(self) -> _Counted:
        return _Counted(self.engine, self.sent)

    async def counted(self) -> list[str]:
        await asyncio.sleep(0)
        sent, self.sent[:] = list(self.sent), []
        return sent


@pytest.fixture
def counting(vault_engine: AsyncEngine) -> tuple[VaultHarness, _CountingFactory]:
    factory = _CountingFactory(vault_engine)
    return make_harness(factory), factory


def _verbs(sent: list[str]) -> list[str]:
    return [statement.split(None, 1)[0].upper() for statement in sent]


async def test_tokenization_is_one_insert_alone(
    counting: tuple[VaultHarness, _CountingFactory],
) -> None:
    h, factory = counting
    await h.tokenize()  # the data key made and its block reserved: once per process
    await factory.counted()
    await h.tokenize()
    sent = await factory.counted()
    # The merchant's current data key (Keyring.sealing_key reads it on every call, so a
    # rotation elsewhere is seen at once), then the token: no BEGIN, no COMMIT.
    assert _verbs(sent) == ["SELECT", "INSERT"], sent
    assert "vault.data_keys" in sent[0] and "INSERT INTO vault.tokens" in sent[1]


async def test_a_tokens_use_is_a_read_and_one_statement_alone(
    counting: tuple[VaultHarness, _CountingFactory],
) -> None:
    h, factory = counting
    await h.pay((await h.tokenize()).id)  # statements prepared, key unwrapped
    token = await h.tokenize()
    await factory.counted()
    got = await h.pay(token.id)
    sent = await factory.counted()
    assert got.cvc is not None
    # The token read without a lock, then its use: the versioned UPDATE in a CTE and
    # the grant's audit row inserted from it, one statement.
    assert _verbs(sent) == ["SELECT", "WITH"], sent
    assert "FOR UPDATE" not in sent[0]
    assert "detokenization_audit" in sent[1] and "UPDATE vault.tokens" in sent[1]


async def test_a_confirms_vault_part_reads_the_token_once(
    counting: tuple[VaultHarness, _CountingFactory],
) -> None:
    h, factory = counting
    warm = await h.tokenize()
    await h.describe(warm.id)
    await h.pay(warm.id)  # statements prepared, key row kept
    token = await h.tokenize()
    await factory.counted()
    await h.describe(token.id)
    got = await h.pay(token.id)
    sent = await factory.counted()
    assert got.cvc is not None
    # The description's read (kept by the vault, core.vault.read_tokens), then the use
    # alone on that row: one SELECT of the token, not two (docs/vault.md, "The token
    # read once").
    assert _verbs(sent) == ["SELECT", "WITH"], sent
    assert "vault.tokens" in sent[0] and "UPDATE vault.tokens" in sent[1]


async def test_a_confirms_vault_part_is_two_round_trips(
    vault_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(vault_database_url, pool_size=1)
    pool = CountedPool(engine)
    try:
        h = make_harness(SqlVaultUnitOfWorkFactory(engine))
        for _ in range(2):  # statements prepared on the connection, key row kept
            warm = await h.tokenize()
            await h.describe(warm.id)
            await h.pay(warm.id)
        token = await h.tokenize()
        await pool.count_writes(monkeypatch)
        writes = pool.writes
        await h.describe(token.id)
        await h.pay(token.id)
        # The token's read, then its use: nothing else goes to the server.
        assert pool.writes - writes == 2
        assert pool.invalidated == 0
    finally:
        await engine.dispose()
