"""Chooses the acquirers of a payment by the routing table (core's AcquirerRouter).

`TableRouter` answers the routing table's decision (core.payments.routing: rules by
method, network, currency, amount and merchant, cheapest route first) and the acquirer
of each name. `acquirer` must keep answering for every name ever routed to, since
attempts remember it. `StaticAcquirerRouter` is the table of one rule per payment method
type, for tests and the default configuration.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from core.payments.acquirer import Acquirer
from core.payments.ports import AcquirerRouter
from core.payments.routing import PaymentFacts, RouteDecision, RoutingTable


class TableRouter:
    def __init__(self, acquirers: Mapping[str, Acquirer], table: RoutingTable) -> None:
        unknown = table.acquirers() - set(acquirers)
        if unknown:
            raise ValueError(f"routes name unknown acquirers: {sorted(unknown)}")
        self._acquirers = dict(acquirers)
        self.table = table

    def route(self, facts: PaymentFacts) -> RouteDecision | None:
        return self.table.decide(facts)

    def acquirer(self, name: str) -> Acquirer:
        return self._acquirers[name]


class StaticAcquirerRouter(TableRouter):
    """payment method type -> an acquirer, or acquirers in failover order."""

    def __init__(
        self, acquirers: Mapping[str, Acquirer], routes: Mapping[str, str | Sequence[str]]
    ) -> None:
        table = RoutingTable.simple(
            {m: [a] if isinstance(a, str) else list(a) for m, a in routes.items()}
        )
        super().__init__(acquirers, table)


if TYPE_CHECKING:  # mypy proves the router fits the port
    _port: AcquirerRouter = StaticAcquirerRouter({}, {})
