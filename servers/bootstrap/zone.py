"""The acquirers as the application zone reaches them: through the cardholder-data zone.

    embedded (PAYGATE_VAULT_TARGET empty)   the zone in this process: each connector (a
                                            simulator, or a client of the acquirer role)
                                            wrapped in core.payments.zone.CardholderDataZone
                                            over the in-process vault
    split (PAYGATE_VAULT_TARGET=host:port)  clients of the vault role, which hosts the zone
                                            (servers/roles/vault/server.py): this process
                                            sends card references and never sees a number

Either way the payments core calls the same Acquirer port and the card number is taken
out of the vault by the same class, just before the connector's call (docs/connectors.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.system import SystemClock
from core.payments.acquirer import Acquirer
from core.payments.ports import CardVault
from core.payments.zone import CardholderDataZone, ZoneCards
from core.shared.ports import Clock
from sandbox.acquirer.upi_simulator import CompletionCallback
from servers.bootstrap.acquirers import (
    AcquirerAccess,
    acquirer_access,
    acquirer_clients,
    with_psps,
)
from servers.bootstrap.routing import KORA, ORBIT
from servers.bootstrap.vault import channel_credentials, service_tokens
from servers.runtime.settings import Settings


def _no_request_id() -> str:
    return ""


def zoned(
    connectors: AcquirerAccess, vault: CardVault, clock: Clock | None = None
) -> AcquirerAccess:
    """Each connector behind the zone's detokenization (one ZoneCards for all of them)."""
    cards = ZoneCards(vault, clock or SystemClock())
    return dataclasses.replace(
        connectors,
        card_network=CardholderDataZone(connectors.card_network, cards),
        upi_switch=CardholderDataZone(connectors.upi_switch, cards),
        others={name: CardholderDataZone(c, cards) for name, c in connectors.others.items()},
    )


def by_wire_name(access: AcquirerAccess) -> dict[pb.Acquirer.ValueType, Acquirer]:
    """The zone's acquirers as AcquirerSimulatorService names them."""
    named: dict[pb.Acquirer.ValueType, Acquirer] = {
        pb.ACQUIRER_CARD_NETWORK: access.card_network,
        pb.ACQUIRER_UPI_SWITCH: access.upi_switch,
    }
    for name, wire_name in ((ORBIT, pb.ACQUIRER_ORBIT), (KORA, pb.ACQUIRER_KORA)):
        if name in access.others:
            named[wire_name] = access.others[name]
    return named


def zone_access(
    settings: Settings,
    vault: CardVault,
    *,
    clock: Clock | None = None,
    on_complete: CompletionCallback | None = None,
    request_id: Callable[[], str] = _no_request_id,
) -> AcquirerAccess:
    """Clients of the vault role's zone when PAYGATE_VAULT_TARGET is set, else the zone in
    this process over `vault` and the connectors of acquirer_access()."""
    if settings.vault_target:
        clients = acquirer_clients(
            settings.vault_target,
            service_token=service_tokens(settings)[0],
            timeout_seconds=settings.acquirer_timeout,
            request_id=request_id,
            credentials=channel_credentials(settings),
        )
        zone = AcquirerAccess(
            clients.card_network,
            clients.upi_switch,
            clients.card_network,
            clients.aclose,
            others={ORBIT: clients.orbit, KORA: clients.kora},
        )
        return with_psps(settings, zone, cards=False)
    connectors = acquirer_access(
        settings, clock=clock, on_complete=on_complete, request_id=request_id
    )
    return zoned(connectors, vault, clock)
