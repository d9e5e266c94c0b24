"""The vault role as real processes (split mode): two replicas of `servers.roles.vault.server.run`
on a database of their own and a shared Redis, reached only through the gRPC CardVault
and VaultApi adapters with the service credential. A token made on one replica pays on
the other (its CVC crosses through Redis, sealed); the logs carry no card data; SIGTERM
drains and exits 0."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.vault.grpc_client import GrpcVault
from core.access.model import Principal
from core.shared.errors import FailedPrecondition, NotFound
from core.shared.secret import Secret
from core.vault.cards import CardInput
from tests.e2e.conftest import free_port
from tests.e2e.split_roles import RoleProcess, role_processes, spawn, wait_serving
from tests.sentinel import Sentinels

pytestmark = pytest.mark.e2e

SERVICE_TOKEN = secrets.token_urlsafe(32)
RUN_VAULT = (
    "import asyncio, sys\n"
    "from servers.runtime.settings import Settings\n"
    "from servers.roles.vault.server import run\n"
    "asyncio.run(run(Settings.from_env(), sys.argv[1]))\n"
)


@pytest.fixture
def replicas(vault_database: str, redis_url: str, tmp_path: Path) -> Iterator[list[RoleProcess]]:
    env = {
        "VAULT_DATABASE_URL": vault_database,
        "DATABASE_URL": "",
        "REDIS_URL": redis_url,
        "PAYGATE_VAULT_CVC_STORE": "redis",
        "PAYGATE_VAULT_SERVICE_TOKEN": SERVICE_TOKEN,
        "PAYGATE_DATA_DIR": str(tmp_path / "vault-node"),  # both replicas: one dev KEK
        "PAYGATE_LOG_LEVEL": "DEBUG",
    }
    with role_processes() as started:
        for i in range(2):
            target = f"127.0.0.1:{free_port()}"
            argv = [sys.executable, "-c", RUN_VAULT, target]
            started.append(spawn(f"vault-{i}", argv, target, env, tmp_path / f"vault-{i}.log"))
        yield started


def principal(merchant_id: str) -> Principal:
    return Principal(merchant_id=merchant_id, livemode=False, actor="key_e2e", role=None)


async def test_the_vault_runs_as_its_own_processes(replicas: list[RoleProcess]) -> None:
    await asyncio.gather(*(wait_serving(r) for r in replicas))
    sentinels = Sentinels()
    one, two = (GrpcVault.connect(r.target, service_token=SERVICE_TOKEN) for r in replicas)
    shop, other = principal(f"acct_e2e{secrets.token_hex(4)}"), principal("acct_e2e_other")
    try:
        number, cvc = sentinels.pan("4"), sentinels.cvc()
        card = CardInput(Secret(number), exp_month=12, exp_year=2031, cvc=Secret(cvc))
        token = await one.tokenize_card(shop, card)
        got = await two.card_for_payment(
            shop.merchant_id, token.id, livemode=False, purpose="authorize pa_e2e"
        )
        assert (got.card.number.reveal(), got.card.cvc) == (number, Secret(cvc))  # CVC via Redis
        with pytest.raises(FailedPrecondition) as used:
            await one.card_for_payment(
                shop.merchant_id, token.id, livemode=False, purpose="authorize pa_e2e"
            )
        assert used.value.reason == "TOKEN_ALREADY_USED"

        saved = await two.create_payment_method_from_token(
            shop, (await one.tokenize_card(shop, card)).id
        )
        for replica in (one, two):
            again = await replica.card_for_payment(
                shop.merchant_id, saved.id, livemode=False, purpose="p"
            )
            assert again.card.number.reveal() == number
        with pytest.raises(NotFound) as missing:
            await one.card_for_payment(other.merchant_id, saved.id, livemode=False, purpose="p")
        assert missing.value.metadata == {"param": "payment_method"}
    finally:
        await one.aclose()
        await two.aclose()

    for replica in replicas:
        replica.process.send_signal(signal.SIGTERM)
    for replica in replicas:
        assert replica.process.wait(timeout=20) == 0
        output = replica.log.read_text()
        assert '"msg": "vault serving"' in output and '"msg": "vault stopped"' in output
        assert sentinels.hits_in_text(output, replica.log.name) == []
