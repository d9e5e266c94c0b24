"""The routing table and the breakers' policy from Settings (docs/connectors.md)."""

from __future__ import annotations

from datetime import timedelta

from core.payments.breaker import BreakerPolicy
from core.payments.routing import RoutingTable
from servers.runtime.settings import Settings

# The acquirers' names, as attempts remember them.
CARD_NETWORK = "card_network_simulator"
UPI_SWITCH = "upi_simulator"
ORBIT = "orbit"
KORA = "kora"
WALLET = "wallet"
NETBANKING = "netbanking"

DEFAULT_ROUTES = {"card": [CARD_NETWORK], "upi": [UPI_SWITCH]}


def routing_table(settings: Settings) -> RoutingTable:
    """PAYGATE_ROUTING, or one route per payment method type (wallet and netbanking when
    their connectors are configured). A malformed table raises RoutingConfigError naming
    the rule and field (the process does not start)."""
    if settings.routing.strip():
        return RoutingTable.from_json(settings.routing)
    routes = dict(DEFAULT_ROUTES)
    if settings.wallet_url:
        routes["wallet"] = [WALLET]
    if settings.netbanking_url:
        routes["netbanking"] = [NETBANKING]
    return RoutingTable.simple(routes)


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        window=settings.breaker_window,
        min_calls=settings.breaker_min_calls,
        error_rate=settings.breaker_error_rate,
        cooldown=timedelta(seconds=settings.breaker_cooldown),
    )
