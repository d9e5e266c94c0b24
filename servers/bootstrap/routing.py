"""The routing table and the breakers' policy from Settings (docs/connectors.md)."""

from __future__ import annotations

from datetime import timedelta

from core.payments.breaker import BreakerPolicy
from core.payments.routing import RouteCost, RouteRule, RoutingTable
from servers.runtime.settings import Settings

# The acquirers' names, as attempts remember them.
CARD_NETWORK = "card_network_simulator"
UPI_SWITCH = "upi_simulator"
ORBIT = "orbit"
KORA = "kora"
WALLET = "wallet"
NETBANKING = "netbanking"

# Where each PSP acquires locally: a domestic authorization costs less (regional
# interchange caps, no cross-border or FX fee) and is approved more often than the same
# card sent abroad.
EUROPE = frozenset({"EUR", "GBP", "CHF", "SEK", "DKK", "NOK", "ISK", "PLN", "CZK", "HUF", "RON"})
AFRICA = frozenset({"ZAR", "EGP", "MAD", "TND", "UGX", "XOF", "XAF"})

# Cost per route: fixed minor units + basis points of the amount (docs/connectors.md).
# The card network is the direct acquirer: blended 250 bp + 30 at home, 290/390 bp when
# the payment is cross-border for it; the PSPs price local cards lower and foreign ones
# higher, so the table's order follows the currency.
NETWORK_HOME = RouteCost(CARD_NETWORK, fixed=30, basis_points=250)
NETWORK_EUROPE = RouteCost(CARD_NETWORK, fixed=30, basis_points=290)
NETWORK_AFRICA = RouteCost(CARD_NETWORK, fixed=30, basis_points=390)
ORBIT_EUROPE = RouteCost(ORBIT, fixed=20, basis_points=140)
ORBIT_ABROAD = RouteCost(ORBIT, fixed=30, basis_points=320)
KORA_AFRICA = RouteCost(KORA, fixed=0, basis_points=150)


def default_table(
    *, orbit: bool, kora: bool, wallet: bool = False, netbanking: bool = False
) -> RoutingTable:
    """The table without PAYGATE_ROUTING: cards by currency, each route failing over to
    the next; a PSP that is not configured is left out (a rule with one route left keeps
    its name, so attempts stay comparable)."""
    card = frozenset({"card"})
    rules: list[RouteRule] = []
    if orbit:
        rules.append(RouteRule("cards-europe", (ORBIT_EUROPE, NETWORK_EUROPE), card,
                               currencies=EUROPE))  # fmt: skip
    if kora:
        rules.append(RouteRule("cards-africa", (KORA_AFRICA, NETWORK_AFRICA), card,
                               currencies=AFRICA))  # fmt: skip
    rest = (NETWORK_HOME, ORBIT_ABROAD) if orbit else (NETWORK_HOME,)
    rules.append(RouteRule("card", rest, card))
    rules.append(RouteRule("upi", (RouteCost(UPI_SWITCH),), frozenset({"upi"})))
    if wallet:
        rules.append(RouteRule("wallet", (RouteCost(WALLET),), frozenset({"wallet"})))
    if netbanking:
        rules.append(RouteRule("netbanking", (RouteCost(NETBANKING),), frozenset({"netbanking"})))
    return RoutingTable(tuple(rules))


def routing_table(settings: Settings) -> RoutingTable:
    """PAYGATE_ROUTING, or the default table over the connectors that settings configure
    (the PSPs, wallet and netbanking). A malformed table raises RoutingConfigError naming
    the rule and field (the process does not start)."""
    if settings.routing.strip():
        return RoutingTable.from_json(settings.routing)
    return default_table(
        orbit=bool(settings.orbit_url),
        kora=bool(settings.kora_url),
        wallet=bool(settings.wallet_url),
        netbanking=bool(settings.netbanking_url),
    )


def breaker_policy(settings: Settings) -> BreakerPolicy:
    return BreakerPolicy(
        window=settings.breaker_window,
        min_calls=settings.breaker_min_calls,
        error_rate=settings.breaker_error_rate,
        cooldown=timedelta(seconds=settings.breaker_cooldown),
    )
