"""Idempotency-Key on CreateToken: the key is recorded with its answer after the token is
made, in one transaction, instead of claimed before it and completed after it
(docs/idempotency.md, "Recorded after the call (tokenization)").

Through a real grpc.aio server, on the in-memory store and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
import pytest
from paygate.v1 import tokens_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import rich_errors
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from core.access.model import Principal
from core.idempotency.model import Claim, Outcome, Record, Scope, State
from core.idempotency.ports import IdempotencyStore
from core.idempotency.use_cases import Idempotency
from core.shared.errors import Unavailable
from core.vault.cards import CardInput
from core.vault.model import Token
from core.vault.ports import VaultApi
from servers.grpc.idempotency import KEY_HANDLING, KeyHandling
from servers.roles.api import start
from tests.fakes import FixedClock, in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

CREATE_TOKEN = "/paygate.v1.TokenService/CreateToken"
PAN = "4242424242424242"


def card(cvc: str = "123", number: str = PAN) -> tokens_pb2.CreateTokenRequest:
    return tokens_pb2.CreateTokenRequest(
        card=tokens_pb2.CardInput(number=number, exp_month=12, exp_year=2034, cvc=cvc)
    )


class CountingVault:
    """The vault, counting tokenizations; `gate` (when set) holds each one until released."""

    def __init__(self, vault: VaultApi) -> None:
        self._vault = vault
        self.tokenized: list[str] = []
        self.gate: asyncio.Barrier | None = None

    async def tokenize_card(self, caller: Principal, card: CardInput) -> Token:
        token = await self._vault.tokenize_card(caller, card)
        self.tokenized.append(token.id)
        if self.gate is not None:
            await self.gate.wait()
        return token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._vault, name)


@dataclass
class SpyStore:
    """An IdempotencyStore that counts its operations; `failing_claims` makes the next
    claims fail as a database outage does."""

    store: IdempotencyStore
    calls: list[str] = field(default_factory=list)
    failing_claims: int = 0

    async def claim(
        self, record: Record, *, now: datetime, expired_before: datetime
    ) -> Record | None:
        self.calls.append(f"claim:{record.state.value}")
        if self.failing_claims:
            self.failing_claims -= 1
            raise Unavailable("the database is unavailable")
        return await self.store.claim(record, now=now, expired_before=expired_before)

    async def find(self, scope: Scope) -> Record | None:
        self.calls.append("find")
        return await self.store.find(scope)

    async def complete(self, claim: Claim, outcome: Outcome, at: datetime) -> bool:
        self.calls.append("complete")
        return await self.store.complete(claim, outcome, at)

    async def release(self, claim: Claim) -> bool:
        self.calls.append("release")
        return await self.store.release(claim)

    async def reap(self, created_before: datetime, limit: int) -> int:
        return await self.store.reap(created_before, limit)


@dataclass
class Tokens:
    channel: grpc.aio.Channel
    vault: CountingVault
    store: SpyStore
    key: str

    async def raw(
        self, request: tokens_pb2.CreateTokenRequest, key: str | None
    ) -> tuple[bytes, dict[str, str]]:
        metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {self.key}"),)
        if key is not None:
            metadata = (*metadata, ("idempotency-key", key))
        call = self.channel.unary_unary(
            CREATE_TOKEN, request_serializer=tokens_pb2.CreateTokenRequest.SerializeToString
        )(request, metadata=metadata)
        data: bytes = await call
        return data, dict(await call.initial_metadata())

    async def fails(
        self, request: tokens_pb2.CreateTokenRequest, key: str | None
    ) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await self.raw(request, key)
        return raised.value


async def serve(store: IdempotencyStore, uow: Any) -> AsyncIterator[Tokens]:
    clock = FixedClock()
    spy = SpyStore(store)
    app = in_memory_app(uow)
    app.idempotency = Idempotency(
        spy,
        clock,
        hash_key=b"test-hash-key-of-32-bytes-length",
        claims_in_transaction=isinstance(store, SqlIdempotencyStore),
    )
    assert app.vault is not None
    vault = CountingVault(app.vault)
    app.vault = vault  # type: ignore[assignment]
    shop = await app.api_keys.seed_merchant("Shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Tokens(channel, vault, spy, shop.secret_key.plaintext)
    finally:
        await server.stop(None)
        await app.aclose()


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[IdempotencyStore, Any]:
    if request.param == "memory":
        return MemoryIdempotencyStore(), MemoryUnitOfWorkFactory()
    engine: AsyncEngine = request.getfixturevalue("engine")
    return SqlIdempotencyStore(engine), SqlUnitOfWorkFactory(engine)


@pytest.fixture
async def tokens(backend: tuple[IdempotencyStore, Any]) -> AsyncIterator[Tokens]:
    async for served in serve(*backend):
        yield served


def token_id(data: bytes) -> str:
    return str(tokens_pb2.Token.FromString(data).id)


def test_tokenization_records_its_key_after_the_call() -> None:
    assert KEY_HANDLING[CREATE_TOKEN] is KeyHandling.RECORDED_AFTER


async def test_a_replay_returns_the_same_token_and_tokenizes_nothing(tokens: Tokens) -> None:
    first, first_headers = await tokens.raw(card(), "tok-key-1")
    again, again_headers = await tokens.raw(card(), "tok-key-1")

    assert again == first
    assert "idempotent-replayed" not in first_headers
    assert again_headers["idempotent-replayed"] == "true"
    assert tokens.vault.tokenized == [token_id(first)]


async def test_the_key_costs_one_write_recorded_with_the_answer(tokens: Tokens) -> None:
    await tokens.raw(card(), "tok-key-2")
    # One read before the call, one writing transaction after it: no claim beforehand,
    # no completion.
    assert tokens.store.calls == ["find", "claim:COMPLETED"]


async def test_the_same_key_with_another_card_is_refused(tokens: Tokens) -> None:
    await tokens.raw(card(), "tok-key-3")
    error = await tokens.fails(card(cvc="999"), "tok-key-3")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    rich = rich_errors.read(error)
    assert rich.reason == "IDEMPOTENCY_KEY_REUSED" and rich.fields == ["idempotency_key"]
    assert len(tokens.vault.tokenized) == 1


async def test_a_bad_card_records_no_key(tokens: Tokens) -> None:
    error = await tokens.fails(card(number="4242424242424241"), "tok-key-4")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The client fixes the card and retries with the same key: it runs.
    data, headers = await tokens.raw(card(), "tok-key-4")
    assert "idempotent-replayed" not in headers
    assert tokens.vault.tokenized == [token_id(data)]


async def test_two_concurrent_requests_with_one_key_answer_one_token(tokens: Tokens) -> None:
    # Both pass the read before either records the key: both tokenize.
    tokens.vault.gate = asyncio.Barrier(2)
    (one, one_headers), (two, two_headers) = await asyncio.gather(
        tokens.raw(card(), "tok-race"), tokens.raw(card(), "tok-race")
    )
    tokens.vault.gate = None

    assert one == two
    assert len(tokens.vault.tokenized) == 2  # the loser's token is left unused to expire
    assert token_id(one) in tokens.vault.tokenized
    # The loser is answered with the stored answer, as a replay.
    assert sorted(h.get("idempotent-replayed", "") for h in (one_headers, two_headers)) == [
        "",
        "true",
    ]
    assert (await tokens.raw(card(), "tok-race"))[0] == one


async def test_a_concurrent_request_with_another_card_is_refused(tokens: Tokens) -> None:
    tokens.vault.gate = asyncio.Barrier(2)
    results = await asyncio.gather(
        tokens.raw(card(), "tok-race-2"),
        tokens.raw(card(cvc="999"), "tok-race-2"),
        return_exceptions=True,
    )
    tokens.vault.gate = None

    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    answers = [r for r in results if not isinstance(r, BaseException)]
    assert len(errors) == 1 and len(answers) == 1
    assert rich_errors.read(errors[0]).reason == "IDEMPOTENCY_KEY_REUSED"


async def test_a_failure_to_record_the_key_leaves_a_retry_working(tokens: Tokens) -> None:
    tokens.store.failing_claims = 1
    first, _ = await tokens.raw(card(), "tok-key-5")  # the token is answered all the same
    assert tokens.vault.tokenized == [token_id(first)]

    second, headers = await tokens.raw(card(), "tok-key-5")  # nothing was recorded: it runs
    assert "idempotent-replayed" not in headers
    assert token_id(second) != token_id(first)
    third, headers = await tokens.raw(card(), "tok-key-5")
    assert third == second and headers["idempotent-replayed"] == "true"
    assert len(tokens.vault.tokenized) == 2


async def test_postgres_the_key_row_holds_no_card_number(engine: AsyncEngine) -> None:
    async for served in serve(SqlIdempotencyStore(engine), SqlUnitOfWorkFactory(engine)):
        data, _ = await served.raw(card(), "tok-pan-key")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT status, request_hash, response, CAST(t AS text) AS whole "
                        "FROM idempotency_keys t WHERE key = 'tok-pan-key'"
                    )
                )
            ).all()
        assert len(rows) == 1
        status, request_hash, response, whole = rows[0]
        assert status == State.COMPLETED.value
        assert bytes(response) == data
        for part in (bytes(request_hash), bytes(response), whole.encode()):
            assert PAN.encode() not in part and b"424242424242" not in part
