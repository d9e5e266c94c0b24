"""POST /v1/tokens and /v1/payment_methods over gRPC, through the API role's interceptors,
with the vault embedded (in the API process) and split (the API role forwards to a vault
server of its own, on its own database): the same answers either way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2
from paygate.v1 import (
    payment_methods_pb2,
    payment_methods_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)

from adapters import rich_errors
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from adapters.vault.grpc_client import GrpcVault
from core.access.model import KeyType
from core.access.roles import Role
from core.vault.ports import VaultApi
from servers.roles.api import start as start_api
from servers.roles.vault.server import start as start_vault
from tests.contract.vault.vault_helpers import VISA, make_harness
from tests.fakes import in_memory_app

SERVICE_TOKEN = "public-api-test-service-token-0123456789"
PM = payment_methods_pb2.PaymentMethod


@dataclass
class Api:
    tokens: tokens_pb2_grpc.TokenServiceStub
    methods: payment_methods_pb2_grpc.PaymentMethodServiceStub
    secret_key: str
    publishable_key: str
    other_secret_key: str
    staff_key: str

    @staticmethod
    def auth(key: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {key}"),)


def details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    rich = rich_errors.read(error)
    assert rich.info is not None
    return rich.info, rich.fields


def card(number: str = VISA, **fields: object) -> tokens_pb2.CardInput:
    values: dict[str, object] = {
        "number": number,
        "exp_month": 12,
        "exp_year": 2030,
        "cvc": "737",
        "name": "Jenny Rosen",
    }
    values.update(fields)
    return tokens_pb2.CardInput(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["embedded", "split"])
async def api(
    request: pytest.FixtureRequest, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> AsyncIterator[Api]:
    hosted = make_harness(sql_vault_uow)
    vault: VaultApi = hosted.vault
    vault_server = client = None
    if request.param == "split":
        vault_server, _, port = await start_vault(
            hosted.vault, "127.0.0.1:0", tokens=[SERVICE_TOKEN]
        )
        client = GrpcVault.connect(f"127.0.0.1:{port}", service_token=SERVICE_TOKEN)
        vault = client
    app = in_memory_app()
    app.vault = vault
    shop = await app.api_keys.seed_merchant("Shop")
    other = await app.api_keys.seed_merchant("Other shop")
    owner = await app.api_keys.authenticate(shop.secret_key.plaintext)
    staff = await app.api_keys.create(owner, KeyType.SECRET, Role.STAFF)
    server, _, api_port = await start_api(app, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{api_port}") as channel:
            yield Api(
                tokens_pb2_grpc.TokenServiceStub(channel),
                payment_methods_pb2_grpc.PaymentMethodServiceStub(channel),
                shop.secret_key.plaintext,
                shop.publishable_key.plaintext,
                other.secret_key.plaintext,
                staff.plaintext,
            )
    finally:
        await server.stop(None)
        await app.aclose()
        if client is not None:
            await client.aclose()
        if vault_server is not None:
            await vault_server.stop(None)


async def tokenize(api: Api, key: str | None = None, **card_fields: object) -> tokens_pb2.Token:
    return await api.tokens.CreateToken(
        tokens_pb2.CreateTokenRequest(card=card(**card_fields)),  # type: ignore[arg-type]
        metadata=api.auth(key or api.publishable_key),
    )


async def test_a_publishable_key_tokenizes_a_card(api: Api) -> None:
    token = await tokenize(api, number="4000 0027 6000 3184")
    assert token.id.startswith("tok_") and not token.used and not token.livemode
    assert (token.card.brand, token.card.last4, token.card.exp_month) == ("visa", "3184", 12)
    assert (token.card.exp_year, token.card.funding, token.card.country) == (2030, "credit", "DE")
    assert len(token.card.fingerprint) == 32
    assert token.created.seconds > 0
    assert token.expires_at.seconds - token.created.seconds == 15 * 60
    assert "3184" in str(token) and "40000027" not in str(token)


async def test_a_secret_key_saves_lists_and_revokes_a_card(api: Api) -> None:
    token = await tokenize(api)
    pm = await api.methods.CreatePaymentMethod(
        payment_methods_pb2.CreatePaymentMethodRequest(token=token.id, customer="cus_42"),
        metadata=api.auth(api.secret_key),
    )
    assert pm.id.startswith("pm_") and pm.type == "card" and pm.customer == "cus_42"
    assert pm.status == PM.ACTIVE and pm.card == token.card
    got = await api.methods.GetPaymentMethod(
        payment_methods_pb2.GetPaymentMethodRequest(id=pm.id), metadata=api.auth(api.secret_key)
    )
    assert got == pm
    listed = await api.methods.ListPaymentMethods(
        payment_methods_pb2.ListPaymentMethodsRequest(customer="cus_42"),
        metadata=api.auth(api.secret_key),
    )
    assert [m.id for m in listed.data] == [pm.id] and not listed.has_more
    revoked = await api.methods.RevokePaymentMethod(
        payment_methods_pb2.RevokePaymentMethodRequest(id=pm.id),
        metadata=api.auth(api.secret_key),
    )
    assert revoked.status == PM.REVOKED and revoked.revoked_at.seconds > 0

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.methods.CreatePaymentMethod(
            payment_methods_pb2.CreatePaymentMethodRequest(token=token.id),
            metadata=api.auth(api.secret_key),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(raised.value)[0].reason == "TOKEN_ALREADY_USED"


async def test_another_merchants_secret_key_gets_not_found(api: Api) -> None:
    token = await tokenize(api)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.methods.CreatePaymentMethod(
            payment_methods_pb2.CreatePaymentMethodRequest(token=token.id),
            metadata=api.auth(api.other_secret_key),
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert details(raised.value)[0].metadata["param"] == "token"
    pm = await api.methods.CreatePaymentMethod(
        payment_methods_pb2.CreatePaymentMethodRequest(token=token.id),
        metadata=api.auth(api.secret_key),
    )
    for call, request in (
        (api.methods.GetPaymentMethod, payment_methods_pb2.GetPaymentMethodRequest(id=pm.id)),
        (
            api.methods.RevokePaymentMethod,
            payment_methods_pb2.RevokePaymentMethodRequest(id=pm.id),
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=api.auth(api.other_secret_key))  # type: ignore[operator]
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert details(raised.value)[0].metadata["param"] == "id"
    listed = await api.methods.ListPaymentMethods(
        payment_methods_pb2.ListPaymentMethodsRequest(), metadata=api.auth(api.other_secret_key)
    )
    assert list(listed.data) == []


async def test_keys_get_only_what_their_role_allows(api: Api) -> None:
    token = await tokenize(api)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await api.methods.CreatePaymentMethod(
            payment_methods_pb2.CreatePaymentMethodRequest(token=token.id),
            metadata=api.auth(api.publishable_key),
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(raised.value)[0].reason == "PUBLISHABLE_KEY_NOT_ALLOWED"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await tokenize(api, key=api.staff_key)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(raised.value)[0].metadata["permission"] == "vault:tokenize"
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await tokenize(api, key="pk_test_unknown")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"number": "4242424242424241"}, ["card.number"]),
        ({"number": "4242 4242 4242 4242", "exp_month": 13}, ["card.exp_month"]),
        ({"number": "", "exp_year": 0, "cvc": "12"}, ["card.number", "card.exp_year", "card.cvc"]),
    ],
)
async def test_bad_cards_name_every_bad_field_and_never_echo_the_number(
    api: Api, fields: dict[str, object], bad: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await tokenize(api, **fields)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info, violations = details(raised.value)
    assert violations == bad and info.metadata["param"] == bad[0]
    text = f"{raised.value.details()} {info} {raised.value.debug_error_string()}"
    assert "424242424242424" not in text.replace(" ", "")
