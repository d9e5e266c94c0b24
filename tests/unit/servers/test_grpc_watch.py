"""WatchPaymentIntent over a real in-process gRPC server (memory adapters, whose unit of
work feeds the change notifications): the stream, its final message, access, limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from paygate.v1 import payment_intents_pb2, payment_intents_pb2_grpc

from servers.bootstrap.app import App
from servers.roles.api import start
from servers.runtime.settings import Settings
from tests.fakes import in_memory_app
from tests.fakes.card_vault import MemoryCardVault

PI = payment_intents_pb2.PaymentIntent
Watched = payment_intents_pb2.WatchPaymentIntentResponse


@dataclass
class Api:
    app: App
    intents: payment_intents_pb2_grpc.PaymentIntentServiceStub
    merchant_id: str
    secret_key: str
    publishable_key: str
    other_secret_key: str

    def auth(self, key: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key or self.secret_key}"),)

    def token(self, number: str) -> str:
        vault = self.app.card_vault
        assert isinstance(vault, MemoryCardVault)
        return vault.add_token(self.merchant_id, number)

    async def create(self) -> PI:
        return await self.intents.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=2000, currency="usd"),
            metadata=self.auth(),
        )

    async def confirm(self, intent_id: str, number: str) -> PI:
        return await self.intents.ConfirmPaymentIntent(
            payment_intents_pb2.ConfirmPaymentIntentRequest(
                id=intent_id, payment_method=self.token(number)
            ),
            metadata=self.auth(),
        )

    def watch(self, intent_id: str, key: str | None = None, client_secret: str = "") -> object:
        return self.intents.WatchPaymentIntent(
            payment_intents_pb2.WatchPaymentIntentRequest(
                id=intent_id, client_secret=client_secret
            ),
            metadata=self.auth(key),
        )


async def serve(settings: Settings) -> AsyncIterator[Api]:
    app = in_memory_app(settings=settings, card_vault=MemoryCardVault())
    seeded = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(
                app,
                payment_intents_pb2_grpc.PaymentIntentServiceStub(channel),
                seeded.merchant.id,
                seeded.secret_key.plaintext,
                seeded.publishable_key.plaintext,
                other.secret_key.plaintext,
            )
    finally:
        await server.stop(None)
        await app.aclose()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for served in serve(Settings(upi_approval_delay=0)):
        yield served


async def read(stream: object) -> Watched:
    async with asyncio.timeout(5):
        message: Watched = await stream.read()  # type: ignore[attr-defined]
    return message


async def test_the_stream_follows_the_intent_to_its_final_message(api: Api) -> None:
    intent = await api.create()
    stream = api.watch(intent.id)
    first = await read(stream)
    assert (first.payment_intent.id, first.payment_intent.status) == (
        intent.id,
        PI.REQUIRES_PAYMENT_METHOD,
    )
    assert (first.final, first.reason) == (False, Watched.END_REASON_UNSPECIFIED)

    confirmed = await api.confirm(intent.id, "4000002760003184")  # 3-D Secure
    assert confirmed.status == PI.REQUIRES_ACTION
    action = await read(stream)
    assert action.payment_intent.status == PI.REQUIRES_ACTION
    assert action.payment_intent.next_action.url.endswith(confirmed.latest_attempt)

    await api.app.challenges.answer(confirmed.latest_attempt, True)
    statuses = []
    while True:
        message = await read(stream)
        statuses.append(message.payment_intent.status)
        if message.final:
            break
    assert statuses[-1] == PI.SUCCEEDED  # PROCESSING may come first, or be folded in
    assert set(statuses) <= {PI.PROCESSING, PI.SUCCEEDED}
    assert message.reason == Watched.TERMINAL_STATUS
    assert await stream.read() is grpc.aio.EOF  # type: ignore[attr-defined]
    assert await stream.code() is grpc.StatusCode.OK  # type: ignore[attr-defined]


async def test_a_publishable_key_watches_with_the_client_secret(api: Api) -> None:
    intent = await api.create()
    stream = api.watch(intent.id, api.publishable_key, intent.client_secret)
    assert (await read(stream)).payment_intent.id == intent.id
    stream.cancel()  # type: ignore[attr-defined]
    for key, secret in ((api.publishable_key, ""), (api.other_secret_key, "")):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await read(api.watch(intent.id, key, secret))
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND


async def test_a_client_that_leaves_stops_its_subscription(api: Api) -> None:
    intent = await api.create()
    stream = api.watch(intent.id)
    await read(stream)
    changes = api.app.intent_watch._changes
    assert changes.subscribers == 1  # type: ignore[attr-defined]
    stream.cancel()  # type: ignore[attr-defined]
    for _ in range(100):
        if changes.subscribers == 0:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert changes.subscribers == 0  # type: ignore[attr-defined]


async def test_the_stream_ends_after_its_longest_duration() -> None:
    async for api in serve(Settings(upi_approval_delay=0, watch_max_seconds=0.3)):
        intent = await api.create()
        stream = api.watch(intent.id)
        assert not (await read(stream)).final
        last = await read(stream)
        assert (last.final, last.reason) == (True, Watched.MAX_DURATION)
        assert last.payment_intent.status == PI.REQUIRES_PAYMENT_METHOD
        assert await stream.read() is grpc.aio.EOF  # type: ignore[attr-defined]


async def test_shutting_down_ends_every_stream_with_a_final_message(api: Api) -> None:
    intent = await api.create()
    stream = api.watch(intent.id)
    await read(stream)
    await api.app.begin_shutdown()
    last = await read(stream)
    assert (last.final, last.reason) == (True, Watched.INTERRUPTED)
    assert await stream.read() is grpc.aio.EOF  # type: ignore[attr-defined]
