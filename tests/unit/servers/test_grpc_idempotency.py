"""Idempotency-Key through a real grpc.aio server: in-memory adapters first, then PostgreSQL.

Replays are compared as the bytes on the wire: the calls below use a multicallable
without a response deserializer, so they get exactly what the server sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from paygate.v1 import api_keys_pb2, payment_intents_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import rich_errors
from adapters.memory.idempotency import MemoryIdempotencyStore
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.model import Principal
from core.access.rate_limits import DEFAULT_LIMITS
from core.idempotency.model import LOCK_DURATION, RETENTION
from core.idempotency.ports import IdempotencyStore
from core.idempotency.use_cases import Idempotency
from core.payments.model import PaymentIntent
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.shared import errors
from core.unit_of_work import UnitOfWorkFactory
from servers.roles.api import start
from tests.fakes import FixedClock, in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

PI = payment_intents_pb2
CREATE_INTENT = "/paygate.v1.PaymentIntentService/CreatePaymentIntent"
LIST_INTENTS = "/paygate.v1.PaymentIntentService/ListPaymentIntents"
CREATE_KEY = "/paygate.v1.ApiKeyService/CreateApiKey"
REVOKE_KEY = "/paygate.v1.ApiKeyService/RevokeApiKey"
DETAILS = "grpc-status-details-bin"


class ScriptedIntents(PaymentIntents):
    """PaymentIntents whose create() first awaits `before_create` when a test sets it."""

    before_create: Callable[[], Awaitable[None]] | None = None

    async def create(self, caller: Principal, cmd: CreatePaymentIntent) -> PaymentIntent:
        if self.before_create is not None:
            await self.before_create()
        return await super().create(caller, cmd)


@dataclass
class Api:
    channel: grpc.aio.Channel
    intents: ScriptedIntents
    store: IdempotencyStore
    idempotency: Idempotency
    clock: FixedClock
    secret_key: str
    other_secret_key: str

    def metadata(self, key: str | None, api_key: str | None = None) -> tuple[tuple[str, str], ...]:
        auth = (("authorization", f"Bearer {api_key or self.secret_key}"),)
        return auth if key is None else (*auth, ("idempotency-key", key))

    async def raw(
        self, method: str, request: Any, key: str | None, api_key: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The response bytes as sent, and the response's initial metadata."""
        call = self.channel.unary_unary(method, request_serializer=type(request).SerializeToString)(
            request, metadata=self.metadata(key, api_key)
        )
        data: bytes = await call
        return data, dict(await call.initial_metadata())

    async def fails(
        self, method: str, request: Any, key: str | None, api_key: str | None = None
    ) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await self.raw(method, request, key, api_key)
        return raised.value

    async def intent_count(self, api_key: str | None = None) -> int:
        data, _ = await self.raw(
            LIST_INTENTS, PI.ListPaymentIntentsRequest(limit=100), None, api_key
        )
        return len(PI.ListPaymentIntentsResponse.FromString(data).data)


def reason(error: grpc.aio.AioRpcError) -> tuple[str, list[str]]:
    rich = rich_errors.read(error)
    assert rich.info is not None
    return rich.reason, rich.fields


def status_details(error: grpc.aio.AioRpcError) -> bytes:
    value = dict(error.trailing_metadata() or ())[DETAILS]
    assert isinstance(value, bytes)
    return value


async def serve(
    uow: UnitOfWorkFactory, store: IdempotencyStore, clock: FixedClock
) -> AsyncIterator[Api]:
    """The gRPC server over `uow` and `store`; idempotency runs on `clock`."""
    ids, system_clock = RandomIds(), SystemClock()
    intents = ScriptedIntents(uow, ids, system_clock)
    idempotency = Idempotency(store, clock, hash_key=b"test-hash-key-of-32-bytes-length")
    app = in_memory_app(
        uow,
        ids=ids,
        # The concurrency cases send 100 creations at once: rate limits are not under test.
        rate_limit_defaults={**DEFAULT_LIMITS, "payments_create": ("100000/second",)},
    )
    app.payment_intents, app.idempotency = intents, idempotency
    shop = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    server, _, port = await start(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Api(
                channel,
                intents,
                store,
                idempotency,
                clock,
                shop.secret_key.plaintext,
                other.secret_key.plaintext,
            )
    finally:
        await server.stop(None)
        await app.aclose()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for served in serve(MemoryUnitOfWorkFactory(), MemoryIdempotencyStore(), FixedClock()):
        yield served


def create(
    amount: int = 1000, currency: str = "usd", **fields: Any
) -> PI.CreatePaymentIntentRequest:
    return PI.CreatePaymentIntentRequest(amount=amount, currency=currency, **fields)


# --- replays ---------------------------------------------------------------------------


async def test_a_replay_returns_the_same_bytes_and_creates_nothing(api: Api) -> None:
    request = create(metadata={"order": "42", "cart": "7", "a": "1"})
    first, first_headers = await api.raw(CREATE_INTENT, request, "key-1")
    again, again_headers = await api.raw(CREATE_INTENT, request, "key-1")

    assert again == first
    parsed = PI.PaymentIntent.FromString(first)
    assert PI.PaymentIntent.FromString(again).SerializeToString() == parsed.SerializeToString()
    assert parsed.id.startswith("pi_")
    assert "idempotent-replayed" not in first_headers
    assert again_headers["idempotent-replayed"] == "true"
    assert await api.intent_count() == 1


async def test_the_same_key_with_other_parameters_is_refused(api: Api) -> None:
    await api.raw(CREATE_INTENT, create(1000), "key-1")
    error = await api.fails(CREATE_INTENT, create(2000), "key-1")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(error) == ("IDEMPOTENCY_KEY_REUSED", ["idempotency_key"])
    assert await api.intent_count() == 1


async def test_without_a_key_every_call_runs(api: Api) -> None:
    await api.raw(CREATE_INTENT, create(), None)
    await api.raw(CREATE_INTENT, create(), None)
    assert await api.intent_count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256], ids=["empty", "too-long"])
async def test_a_malformed_key_is_invalid_argument(api: Api, key: str) -> None:
    error = await api.fails(CREATE_INTENT, create(), key)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(error) == ("PARAMETER_INVALID", ["idempotency_key"])
    assert await api.intent_count() == 0


async def test_two_different_keys_in_one_call_are_invalid_argument(api: Api) -> None:
    metadata = (*api.metadata("key-1"), ("idempotency-key", "key-2"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.channel.unary_unary(
            CREATE_INTENT, request_serializer=PI.CreatePaymentIntentRequest.SerializeToString
        )(create(), metadata=metadata)
    assert reason(raised.value) == ("PARAMETER_INVALID", ["idempotency_key"])


async def test_keys_are_per_merchant_and_per_method(api: Api) -> None:
    mine, _ = await api.raw(CREATE_INTENT, create(), "shared-key")
    theirs, headers = await api.raw(CREATE_INTENT, create(), "shared-key", api.other_secret_key)
    assert "idempotent-replayed" not in headers
    assert PI.PaymentIntent.FromString(theirs).id != PI.PaymentIntent.FromString(mine).id
    assert await api.intent_count(api.other_secret_key) == 1
    # Another method of the same merchant has its own keys too.
    key_request = api_keys_pb2.CreateApiKeyRequest(type=api_keys_pb2.ApiKey.PUBLISHABLE)
    _, headers = await api.raw(CREATE_KEY, key_request, "shared-key")
    assert "idempotent-replayed" not in headers


# --- what is stored and what is released -----------------------------------------------


async def test_a_validation_error_is_not_stored(api: Api) -> None:
    error = await api.fails(CREATE_INTENT, create(currency=""), "key-1")
    assert reason(error) == ("PARAMETER_MISSING", ["currency"])
    # Fixed, the same key goes through, and is then kept for the fixed request.
    fixed, _ = await api.raw(CREATE_INTENT, create(), "key-1")
    replayed, _ = await api.raw(CREATE_INTENT, create(), "key-1")
    assert replayed == fixed
    assert await api.intent_count() == 1


async def test_a_final_error_is_stored_and_replayed_identically(api: Api) -> None:
    revoke = api_keys_pb2.RevokeApiKeyRequest(id="key_00000000000000000000000000")
    first = await api.fails(REVOKE_KEY, revoke, "revoke-1")
    again = await api.fails(REVOKE_KEY, revoke, "revoke-1")
    assert first.code() == again.code() == grpc.StatusCode.NOT_FOUND
    assert first.details() == again.details()
    assert status_details(again) == status_details(first)
    assert dict(again.initial_metadata() or ())["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (errors.Unavailable("the acquirer is down"), grpc.StatusCode.UNAVAILABLE),
        (errors.Conflict("lost a race"), grpc.StatusCode.ABORTED),
        (
            errors.ResourceExhausted("slow down", retry_after_seconds=1),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
        (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
        (RuntimeError("a bug"), grpc.StatusCode.INTERNAL),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None,
)
async def test_a_retryable_error_releases_the_key(
    api: Api, raised: Exception, code: grpc.StatusCode
) -> None:
    async def fail_once() -> None:
        api.intents.before_create = None
        raise raised

    api.intents.before_create = fail_once
    error = await api.fails(CREATE_INTENT, create(), "key-1")
    assert error.code() == code
    _, headers = await api.raw(CREATE_INTENT, create(), "key-1")
    assert "idempotent-replayed" not in headers
    assert await api.intent_count() == 1


async def test_a_replayed_api_key_has_no_secret_and_none_is_stored(api: Api) -> None:
    request = api_keys_pb2.CreateApiKeyRequest(
        type=api_keys_pb2.ApiKey.SECRET, role=api_keys_pb2.STAFF
    )
    first, _ = await api.raw(CREATE_KEY, request, "new-key")
    again, headers = await api.raw(CREATE_KEY, request, "new-key")
    created, replayed = (api_keys_pb2.ApiKey.FromString(d) for d in (first, again))
    assert created.secret.startswith("sk_test_")
    assert headers["idempotent-replayed"] == "true"
    assert replayed.id == created.id and replayed.secret == ""
    created.ClearField("secret")
    assert replayed == created
    # The stored copy is the replayed one: the secret never rests in the table.
    assert isinstance(api.store, MemoryIdempotencyStore)
    stored = [r.outcome.response for r in api.store.records.values() if r.outcome]
    assert stored == [again]
    assert api_keys_pb2.ApiKey.FromString(first).secret.encode() not in again


# --- concurrency and recovery ----------------------------------------------------------


async def test_a_duplicate_while_the_first_call_runs_is_aborted(api: Api) -> None:
    entered, proceed = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        entered.set()
        await proceed.wait()

    api.intents.before_create = hold
    first = asyncio.create_task(api.raw(CREATE_INTENT, create(), "key-1"))
    await entered.wait()
    error = await api.fails(CREATE_INTENT, create(), "key-1")
    assert error.code() == grpc.StatusCode.ABORTED
    assert reason(error)[0] == "IDEMPOTENCY_KEY_IN_USE"
    proceed.set()
    data, _ = await first
    assert (await api.raw(CREATE_INTENT, create(), "key-1"))[0] == data
    assert await api.intent_count() == 1


async def test_a_call_cut_off_midway_holds_the_key_until_the_lock_expires(api: Api) -> None:
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    api.intents.before_create = hang
    call = api.channel.unary_unary(
        CREATE_INTENT, request_serializer=PI.CreatePaymentIntentRequest.SerializeToString
    )(create(), metadata=api.metadata("key-1"))
    await entered.wait()
    call.cancel()  # the client gives up; the server cancels the handler
    with pytest.raises(asyncio.CancelledError):
        await call
    api.intents.before_create = None

    # The outcome is unknown, so the key stays held until its lock expires...
    error = await api.fails(CREATE_INTENT, create(), "key-1")
    assert reason(error)[0] == "IDEMPOTENCY_KEY_IN_USE"
    # ...and then the retry runs: the recovery point.
    api.clock.advance(seconds=LOCK_DURATION.total_seconds())
    data, headers = await api.raw(CREATE_INTENT, create(), "key-1")
    assert "idempotent-replayed" not in headers
    assert (await api.raw(CREATE_INTENT, create(), "key-1"))[0] == data


async def test_keys_are_forgotten_after_24_hours_and_reaped(api: Api) -> None:
    await api.raw(CREATE_INTENT, create(1000), "key-1")
    api.clock.advance(seconds=RETENTION.total_seconds() - 1)
    assert await api.idempotency.reap_expired(api.clock.now(), limit=100) == 0
    assert reason(await api.fails(CREATE_INTENT, create(2000), "key-1"))[0] == (
        "IDEMPOTENCY_KEY_REUSED"
    )
    api.clock.advance(seconds=1)
    assert await api.idempotency.reap_expired(api.clock.now(), limit=100) == 1
    _, headers = await api.raw(CREATE_INTENT, create(2000), "key-1")
    assert "idempotent-replayed" not in headers
    assert await api.intent_count() == 2


# --- PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
async def pg_api(engine: AsyncEngine) -> AsyncIterator[Api]:
    async for served in serve(
        SqlUnitOfWorkFactory(engine), SqlIdempotencyStore(engine), FixedClock()
    ):
        yield served


async def test_postgres_replay_is_byte_for_byte(pg_api: Api) -> None:
    request = create(metadata={"order": "42", "cart": "7"}, description="two mugs")
    first, _ = await pg_api.raw(CREATE_INTENT, request, "pg-key")
    again, headers = await pg_api.raw(CREATE_INTENT, request, "pg-key")
    assert again == first and headers["idempotent-replayed"] == "true"
    assert await pg_api.intent_count() == 1


async def test_postgres_100_concurrent_duplicates_create_one_intent(pg_api: Api) -> None:
    request = create(4200, "eur")

    async def attempt() -> bytes | str:
        try:
            data, _ = await pg_api.raw(CREATE_INTENT, request, "burst-key")
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED, error
            return reason(error)[0]
        return data

    results = await asyncio.gather(*(attempt() for _ in range(100)))
    answers = {r for r in results if isinstance(r, bytes)}
    refusals = {r for r in results if isinstance(r, str)}
    assert len(answers) == 1
    assert refusals <= {"IDEMPOTENCY_KEY_IN_USE"}
    assert await pg_api.intent_count() == 1
    # Afterwards every retry gets the one stored answer.
    assert (await pg_api.raw(CREATE_INTENT, request, "burst-key"))[0] in answers
