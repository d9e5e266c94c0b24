"""A whole gateway in split mode with the vault role behind a fault proxy: Envoy, two API
processes and the worker (started by the launcher), the acquirer role and the vault role
(started here, so that the launcher's children are given the proxy's address as
PAYGATE_VAULT_TARGET). The vault role hosts the cardholder-data zone, so everything the
API processes and the worker ask of the vault crosses the proxy: tokenization, card
profiles, and the zone's authorizations, captures and lookups on their way to the
acquirer role. The acquirer role is reached directly by the vault role only.

    with split_vault_gateway(database_url, vault_database_url, redis_url) as split:
        split.proxy.black_hole()
        ... split.gateway.rest_url ...
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.shared.secret import Secret
from tests.e2e.conftest import free_port, running_gateway
from tests.e2e.gateway import Gateway
from tests.faults.proxied import start_role, stop_roles, wait_for_port
from tests.faults.proxy import FaultProxy, Upstream

# Short bounds, so that a black hole ends within seconds (docs/reliability.md lists the
# production defaults): each vault call, and each zone call that may move money.
BOUNDS = {
    "vault_timeout": 3.0,
    "acquirer_timeout": 3.0,
    "db_command_timeout": 5.0,
    "recovery_after_seconds": 3,
}

# Seconds each process may take to start: three Python processes start at once on a
# shared, loaded machine.
START_BUDGET = 240.0


@dataclass
class SplitVault:
    gateway: Gateway
    proxy: FaultProxy  # between the API processes (and the worker) and the vault role
    roles: dict[str, subprocess.Popen[bytes]]  # acquirer, vault

    def roles_running(self) -> bool:
        return all(process.poll() is None for process in self.roles.values())


@contextlib.contextmanager
def split_vault_gateway(
    database_url: str, vault_database_url: str, redis_url: str
) -> Iterator[SplitVault]:
    data_dir = Path(tempfile.mkdtemp(prefix="paygate-split-vault-"))
    acquirer_token, vault_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ports = {"acquirer": free_port(), "vault": free_port()}
    reach_acquirer = {
        "PAYGATE_ACQUIRER_TARGET": f"127.0.0.1:{ports['acquirer']}",
        "PAYGATE_ACQUIRER_SERVICE_TOKEN": acquirer_token,
        "PAYGATE_ACQUIRER_TIMEOUT": str(BOUNDS["acquirer_timeout"]),
    }
    roles: dict[str, subprocess.Popen[bytes]] = {}
    with contextlib.ExitStack() as stack:
        roles["acquirer"] = start_role(
            "acquirer",
            ports["acquirer"],
            {"PAYGATE_ACQUIRER_SERVICE_TOKEN": acquirer_token, "DATABASE_URL": ""},
            data_dir,
        )
        stack.callback(stop_roles, [roles["acquirer"]])
        wait_for_port(ports["acquirer"], roles["acquirer"])
        roles["vault"] = start_role(
            "vault",
            ports["vault"],
            {
                **reach_acquirer,
                "VAULT_DATABASE_URL": vault_database_url,
                "DATABASE_URL": "",
                "REDIS_URL": "",
                "PAYGATE_VAULT_SERVICE_TOKEN": vault_token,
                # One vault process: the CVC waits in its memory until the authorization.
                "PAYGATE_VAULT_CVC_STORE": "memory",
            },
            data_dir,
        )
        stack.callback(stop_roles, [roles["vault"]])
        wait_for_port(ports["vault"], roles["vault"])
        proxy = stack.enter_context(
            FaultProxy.start(Upstream.tcp("127.0.0.1", ports["vault"]), seed=17)
        )
        gateway = stack.enter_context(
            running_gateway(
                database_url,
                api_processes=2,
                web_process=False,
                redis_url=redis_url,
                vault_target=proxy.address,
                vault_service_token=Secret(vault_token),
                acquirer_target=reach_acquirer["PAYGATE_ACQUIRER_TARGET"],
                acquirer_service_token=Secret(acquirer_token),
                stripe_port=0,
                psp_port=0,
                start_budget=START_BUDGET,
                **BOUNDS,
            )
        )
        # Whatever a test left switched on, the gateway stops on a healthy network.
        stack.callback(proxy.healthy)
        yield SplitVault(gateway, proxy, roles)
