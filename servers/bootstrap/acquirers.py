"""The acquirers from Settings: the simulators themselves (the acquirer role, or the
embedded mode) or clients of the acquirer role. servers/bootstrap/app.py calls acquirer_access()
for the API and worker roles; servers/roles/acquirer.py calls build_simulators().

    in-process (PAYGATE_ACQUIRER_TARGET empty)   the simulators live in this process; the
                                                 UPI switch's completion callback settles
                                                 a collect at once
    split (PAYGATE_ACQUIRER_TARGET=host:port)    GrpcAcquirer clients of the acquirer
                                                 role; the gateway learns that a collect
                                                 completed by asking (payments.sync_attempt)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers.grpc_client import GrpcAcquirer
from adapters.acquirers.kora_client import KoraConnector
from adapters.acquirers.netbanking_client import NetBankingConnector
from adapters.acquirers.orbit_client import OrbitConnector
from adapters.acquirers.wallet_client import WalletConnector
from adapters.grpc_channel import open_channel
from core.payments.acquirer import Acquirer, DisputeFeed
from core.shared.ports import Clock
from sandbox.acquirer import CardNetworkSimulator, UpiSimulator
from sandbox.acquirer.books_journal import BooksJournal
from sandbox.acquirer.upi_simulator import CompletionCallback
from servers.bootstrap.routing import KORA, NETBANKING, ORBIT, WALLET
from servers.runtime.settings import Settings

Closer = Callable[[], Awaitable[None]]


def _no_request_id() -> str:
    return ""


@dataclass
class Simulators:
    card_network: CardNetworkSimulator
    upi_switch: UpiSimulator

    def by_wire_name(self) -> dict[pb.Acquirer.ValueType, Acquirer]:
        return {
            pb.ACQUIRER_CARD_NETWORK: self.card_network,
            pb.ACQUIRER_UPI_SWITCH: self.upi_switch,
        }

    async def aclose(self) -> None:
        await self.upi_switch.aclose()  # its collect timers
        self.card_network.close_journal()
        self.upi_switch.close_journal()


def build_simulators(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_complete: CompletionCallback | None = None,
    books: Path | None = None,
) -> Simulators:
    """The simulators; with `books` (a directory) each keeps its books in a journal there
    and takes them up again at start (the acquirer role's `<data_dir>/acquirer`)."""

    def journal(name: str) -> BooksJournal | None:
        return BooksJournal(books, name) if books is not None else None

    return Simulators(
        card_network=CardNetworkSimulator(
            challenge_base_url=settings.web_url,
            latency=settings.simulator_latency,
            clock=clock,
            journal=journal("card_network"),
        ),
        upi_switch=UpiSimulator(
            approval_delay=settings.upi_approval_delay,
            latency=settings.simulator_latency,
            on_complete=on_complete,
            clock=clock,
            journal=journal("upi_switch"),
        ),
    )


@dataclass
class AcquirerAccess:
    """The acquirers as the payments core sees them, and how to let go of them."""

    card_network: Acquirer
    upi_switch: Acquirer
    # Where the card network announces disputes (the worker ingests them).
    disputes: DisputeFeed
    aclose: Closer
    # The simulators, when they live in this process (tests reach into them).
    hosted: Simulators | None = None
    # The other connectors (the JSON PSPs), by the name routes give them.
    others: dict[str, Acquirer] = field(default_factory=dict)


def acquirer_access(
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_complete: CompletionCallback | None = None,
    request_id: Callable[[], str] = _no_request_id,
) -> AcquirerAccess:
    """Clients of the acquirer role when PAYGATE_ACQUIRER_TARGET is set (`on_complete` is
    then unused: the gateway polls), else the simulators in this process."""
    if settings.acquirer_target:
        clients = acquirer_clients(
            settings.acquirer_target,
            service_token=settings.acquirer_service_token.reveal(),
            timeout_seconds=settings.acquirer_timeout,
            request_id=request_id,
        )
        access = AcquirerAccess(
            clients.card_network, clients.upi_switch, clients.card_network, clients.aclose
        )
    else:
        hosted = build_simulators(settings, clock=clock, on_complete=on_complete)
        access = AcquirerAccess(
            hosted.card_network, hosted.upi_switch, hosted.card_network, hosted.aclose, hosted
        )
    return with_psps(settings, access)


HttpConnector = OrbitConnector | KoraConnector | WalletConnector | NetBankingConnector


def redirect_connectors(settings: Settings) -> dict[str, HttpConnector]:
    """The wallet and net banking connectors that settings configure. They carry no card
    data, so the application zone reaches them directly in every topology."""
    connectors: dict[str, HttpConnector] = {}
    timeout = settings.acquirer_timeout
    if settings.wallet_url:
        connectors[WALLET] = WalletConnector(settings.wallet_url, timeout_seconds=timeout)
    if settings.netbanking_url:
        connectors[NETBANKING] = NetBankingConnector(
            settings.netbanking_url, timeout_seconds=timeout
        )
    return connectors


def with_psps(settings: Settings, access: AcquirerAccess, *, cards: bool = True) -> AcquirerAccess:
    """The HTTP PSPs that settings configure, next to the card network and UPI switch;
    without `cards`, only the wallet and net banking (the card PSPs are in the zone)."""
    psps: dict[str, HttpConnector] = {}
    if cards and settings.orbit_url:
        psps[ORBIT] = OrbitConnector(settings.orbit_url, timeout_seconds=settings.acquirer_timeout)
    if cards and settings.kora_url:
        psps[KORA] = KoraConnector(settings.kora_url, timeout_seconds=settings.acquirer_timeout)
    psps.update(redirect_connectors(settings))
    if not psps:
        return access
    close_first = access.aclose

    async def close() -> None:
        for psp in psps.values():
            await psp.aclose()
        await close_first()

    return replace(access, others={**access.others, **psps}, aclose=close)


@dataclass
class AcquirerClients:
    """Clients of the acquirer role on one channel, and how to close it."""

    card_network: GrpcAcquirer
    upi_switch: GrpcAcquirer
    aclose: Closer
    orbit: GrpcAcquirer  # answered by the cardholder-data zone only
    kora: GrpcAcquirer  # the same


def acquirer_clients(
    target: str,
    *,
    service_token: str,
    timeout_seconds: float,
    request_id: Callable[[], str] = _no_request_id,
    credentials: grpc.ChannelCredentials | None = None,
) -> AcquirerClients:
    """Clients of AcquirerSimulatorService at `target` (host:port), on one channel: the
    acquirer role's, or the cardholder-data zone's (servers/bootstrap/zone.py)."""
    channel = open_channel(target, credentials)
    options = {
        "service_token": service_token,
        "timeout_seconds": timeout_seconds,
        "request_id": request_id,
    }

    async def close() -> None:
        await channel.close(None)

    return AcquirerClients(
        GrpcAcquirer.card_network(channel, **options),
        GrpcAcquirer.upi_switch(channel, **options),
        close,
        GrpcAcquirer.orbit(channel, **options),
        GrpcAcquirer.kora(channel, **options),
    )
