"""The vault behind core.payments.ports.CardVault (whose contract is in
tests/contract/test_card_vault_contract.py): its audit, expiry, revocation and tamper
cases, in-process (embedded mode, memory and PostgreSQL) and over gRPC against a real
vault server on port 0 with a database of its own (split mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from adapters.vault.grpc_client import GrpcVault
from adapters.vault.in_process import InProcessCardVault
from core.payments.acquirer import Card
from core.payments.ports import CardVault
from core.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from core.shared.secret import Secret
from core.vault.errors import CiphertextRejected, PaymentMethodRevoked, TokenExpired
from core.vault.model import DetokenizationOutcome
from core.vault.ports import VaultApi, VaultUnitOfWorkFactory
from servers.roles.vault.server import start
from tests.contract.vault.vault_helpers import (
    MASTERCARD,
    VISA,
    VaultHarness,
    card,
    make_harness,
    new_principal,
)
from tests.fakes.vault import MemoryVaultUnitOfWorkFactory

SERVICE_TOKEN = "test-service-token-0123456789abcdefghijkl"
PURPOSE = "authorize pa_contract"


@dataclass
class Backend:
    """The vault as a payments core and an API servicer reach it, plus the vault itself."""

    api: VaultApi
    cards: CardVault
    hosted: VaultHarness  # the vault behind them, to stage and inspect

    async def tokenize(self, number: str = VISA, cvc: str = "737", other: bool = False) -> str:
        who = self.hosted.other if other else self.hosted.merchant
        return (await self.api.tokenize_card(who, card(number, cvc))).id

    async def card_for(self, payment_method: str, merchant_id: str | None = None) -> Card:
        found = await self.cards.card_for_payment(
            merchant_id or self.hosted.merchant.merchant_id,
            payment_method,
            livemode=False,
            purpose=PURPOSE,
        )
        return found.card


@pytest.fixture(params=["in-process/memory", "in-process/postgres", "grpc/postgres"])
def topology(request: pytest.FixtureRequest) -> tuple[str, VaultUnitOfWorkFactory]:
    where, storage = request.param.split("/")
    if storage == "memory":
        return where, MemoryVaultUnitOfWorkFactory()
    uow: VaultUnitOfWorkFactory = request.getfixturevalue("sql_vault_uow")
    return where, uow


@pytest.fixture
async def backend(topology: tuple[str, VaultUnitOfWorkFactory]) -> AsyncIterator[Backend]:
    where, uow = topology
    hosted = make_harness(uow)
    if where == "in-process":
        yield Backend(hosted.vault, InProcessCardVault(hosted.vault), hosted)
        return
    server, _, port = await start(hosted.vault, "127.0.0.1:0", tokens=[SERVICE_TOKEN])
    client = GrpcVault.connect(f"127.0.0.1:{port}", service_token=SERVICE_TOKEN)
    try:
        yield Backend(client, client, hosted)
    finally:
        await client.aclose()
        await server.stop(None)


async def test_a_token_gives_its_card_once(backend: Backend) -> None:
    token = await backend.tokenize(cvc="321")
    got = await backend.card_for(token)
    assert (got.number.reveal(), got.cvc, got.exp_month, got.exp_year) == (
        VISA,
        Secret("321"),
        12,
        2030,
    )
    assert (got.brand, got.holder_name, got.last4) == ("visa", "Jenny Rosen", "4242")
    assert VISA not in repr(got)
    with pytest.raises(FailedPrecondition) as raised:
        await backend.card_for(token)
    assert raised.value.reason == "TOKEN_ALREADY_USED"


async def test_a_payment_method_works_twice_and_its_cvc_once(backend: Backend) -> None:
    token = await backend.tokenize(MASTERCARD, cvc="555")
    pm = await backend.api.create_payment_method_from_token(backend.hosted.merchant, token)
    first, second = await backend.card_for(pm.id), await backend.card_for(pm.id)
    assert first.number.reveal() == second.number.reveal() == MASTERCARD
    assert (first.cvc, second.cvc, first.brand) == (Secret("555"), None, "mastercard")


@pytest.mark.parametrize("asked", ["tok_unknown", "pm_01jd0000000000000000000000", "", VISA])
async def test_unknown_ids_are_not_found(backend: Backend, asked: str) -> None:
    with pytest.raises(NotFound) as raised:
        await backend.card_for(asked)
    assert raised.value.metadata == {"param": "payment_method"}
    assert VISA not in raised.value.message


async def test_another_merchants_token_or_method_is_not_found(backend: Backend) -> None:
    token = await backend.tokenize()
    theirs = await backend.tokenize(other=True)
    pm = await backend.api.create_payment_method_from_token(backend.hosted.other, theirs)
    for asked in (token, pm.id):
        with pytest.raises(NotFound) as raised:
            await backend.card_for(asked, merchant_id=new_principal().merchant_id)
        assert raised.value.metadata == {"param": "payment_method"}
    with pytest.raises(NotFound):
        await backend.card_for(pm.id)  # ours is merchant, the method is other's
    assert (await backend.card_for(token)).number.reveal() == VISA


async def test_expired_tokens_and_revoked_methods_say_so(backend: Backend) -> None:
    token = await backend.tokenize()
    pm = await backend.api.create_payment_method_from_token(
        backend.hosted.merchant, await backend.tokenize()
    )
    await backend.api.revoke_payment_method(backend.hosted.merchant, pm.id)
    with pytest.raises(PaymentMethodRevoked) as revoked:
        await backend.card_for(pm.id)
    assert revoked.value.reason == "PAYMENT_METHOD_REVOKED"
    backend.hosted.clock.advance(minutes=16)
    with pytest.raises(TokenExpired) as expired:
        await backend.card_for(token)
    assert expired.value.reason == "TOKEN_EXPIRED"


async def test_the_purpose_is_required(backend: Backend) -> None:
    token = await backend.tokenize()
    with pytest.raises(InvalidArgument) as raised:
        await backend.cards.card_for_payment(
            backend.hosted.merchant.merchant_id, token, livemode=False, purpose=""
        )
    assert raised.value.metadata["param"] == "purpose"


async def test_a_rejected_ciphertext_is_the_same_error(backend: Backend) -> None:
    victim, other = await backend.tokenize(), await backend.tokenize(MASTERCARD)
    hosted = backend.hosted
    async with hosted.uow() as uow:
        merchant = hosted.merchant.merchant_id
        stolen = await uow.tokens.get(merchant, victim)
        target = await uow.tokens.get(merchant, other)
        assert stolen is not None and target is not None
        target.encrypted_card = stolen.encrypted_card
        await uow.tokens.update(target)
        await uow.commit()
    with pytest.raises(CiphertextRejected):
        await backend.card_for(other)


async def test_every_call_is_audited(backend: Backend) -> None:
    token = await backend.tokenize()
    await backend.card_for(token)
    with pytest.raises(FailedPrecondition):
        await backend.card_for(token)
    async with backend.hosted.uow() as uow:
        records = await uow.detokenizations.for_payment_method(
            backend.hosted.merchant.merchant_id, token
        )
    assert [(r.outcome, r.reason, r.purpose) for r in records] == [
        (DetokenizationOutcome.GRANTED, "", PURPOSE),
        (DetokenizationOutcome.DENIED, "TOKEN_ALREADY_USED", PURPOSE),
    ]
    assert {r.actor for r in records} <= {"in-process:payments", "service:payments"}


# --- the gRPC adapter only ----------------------------------------------------------


@pytest.fixture
async def vault_server(sql_vault_uow: SqlVaultUnitOfWorkFactory) -> AsyncIterator[int]:
    hosted = make_harness(sql_vault_uow)
    server, _, port = await start(hosted.vault, "127.0.0.1:0", tokens=[SERVICE_TOKEN])
    try:
        yield port
    finally:
        await server.stop(None)


@pytest.mark.parametrize("token", ["", "wrong-token-0123456789abcdefghijklmnop"])
async def test_the_vault_refuses_callers_without_its_credential(
    vault_server: int, token: str
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{vault_server}") as channel:
        from paygate.internal.v1 import vault_pb2, vault_pb2_grpc

        stub = vault_pb2_grpc.VaultInternalServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.DetokenizeForPayment(
                vault_pb2.DetokenizeForPaymentRequest(
                    merchant_id="acct_x", payment_method="tok_x", purpose="p"
                ),
                metadata=metadata,
            )
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_wrong_credential_is_a_deployment_error_not_the_merchants(
    vault_server: int,
) -> None:
    from adapters.vault.grpc_errors import VaultMisconfigured

    client = GrpcVault.connect(
        f"127.0.0.1:{vault_server}", service_token="not-the-token-0123456789abcdefghijkl"
    )
    try:
        with pytest.raises(VaultMisconfigured):
            await client.tokenize_card(new_principal(), card())
    finally:
        await client.aclose()


async def test_an_unreachable_vault_is_unavailable() -> None:
    from core.shared.errors import Unavailable

    client = GrpcVault.connect("127.0.0.1:1", service_token=SERVICE_TOKEN, timeout_seconds=1)
    try:
        with pytest.raises(Unavailable) as raised:
            await client.card_for_payment("acct_x", "tok_x", livemode=False, purpose=PURPOSE)
        assert raised.value.reason == "VAULT_UNAVAILABLE"
    finally:
        await client.aclose()


async def test_health_is_open_without_a_credential(vault_server: int) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{vault_server}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="paygate.internal.v1.VaultInternalService")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_both_adapters_are_card_vaults() -> None:
    # Checked by mypy as much as here: the adapters fit the payments core's Protocol.
    ports: list[type[CardVault]] = [InProcessCardVault, GrpcVault]
    assert all(callable(getattr(p, "card_for_payment", None)) for p in ports)
