"""The vault role in split mode behind the fault proxy: the payments side's vault client
(adapters/vault/grpc_client.py) answers UNAVAILABLE (VAULT_UNAVAILABLE) within its
deadline while the vault is black-holed or its connections are reset, and serves again
once the network heals, on the same channel (no restart of the caller)."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.sql.vault.migrate import migrate_vault
from adapters.vault.grpc_client import GrpcVault
from core.access.model import Principal
from core.shared.errors import Unavailable
from core.shared.secret import Secret
from core.vault.cards import CardInput
from tests.databases import fresh_database
from tests.e2e.conftest import free_port
from tests.faults.proxied import long_profile, start_role, stop_roles, wait_for_port
from tests.faults.proxy import FaultProxy, Upstream
from tests.faults.waiting import eventually

pytestmark = long_profile
TOKEN = secrets.token_urlsafe(32)
DEADLINE = 1.0
OWNER = Principal("acct_vault_faults", False, "key_vault_faults", None)


@pytest.fixture(scope="module")
async def vault_database(postgres_admin_url: str) -> AsyncIterator[str]:
    async with fresh_database(
        postgres_admin_url, "paygate_vault_faults", migrator=migrate_vault
    ) as url:
        yield url


@pytest.fixture(scope="module")
def vault_proxy(vault_database: str) -> Iterator[FaultProxy]:
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-vault-faults-"))
    port = free_port()
    env = {
        "VAULT_DATABASE_URL": vault_database,
        "DATABASE_URL": "",
        "PAYGATE_VAULT_SERVICE_TOKEN": TOKEN,
        "PAYGATE_VAULT_CVC_STORE": "memory",
    }
    roles: list[subprocess.Popen[bytes]] = [start_role("vault", port, env, data_dir)]
    try:
        wait_for_port(port, roles[0])
        with FaultProxy.start(Upstream.tcp("127.0.0.1", port)) as proxy:
            yield proxy
    finally:
        stop_roles(roles)


def card() -> CardInput:
    return CardInput(Secret("4242424242424242"), exp_month=12, exp_year=2040, cvc=Secret("123"))


@pytest.mark.parametrize("fault", ["black_hole", "reset"])
async def test_the_vault_unreachable_is_unavailable_then_serves_again(
    vault_proxy: FaultProxy, fault: str
) -> None:
    vault = GrpcVault.connect(vault_proxy.address, service_token=TOKEN, timeout_seconds=DEADLINE)
    try:
        assert (await vault.tokenize_card(OWNER, card())).id.startswith("tok_")
        getattr(vault_proxy, fault)()
        try:
            for _ in range(3):
                with pytest.raises(Unavailable) as refused:
                    await vault.tokenize_card(OWNER, card())
                assert refused.value.reason == "VAULT_UNAVAILABLE"
        finally:
            vault_proxy.healthy()

        async def served() -> bool:
            try:
                return (await vault.tokenize_card(OWNER, card())).id.startswith("tok_")
            except Unavailable:
                return False

        assert await eventually(served, within=30)
    finally:
        await vault.aclose()
