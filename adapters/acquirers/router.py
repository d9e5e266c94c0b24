"""Chooses the acquirer of a payment by its payment method type (core's AcquirerRouter).

A static table for now: card -> the card network, upi -> the UPI switch. Routing rules
(by currency, BIN, merchant, cost or success rate) would replace `route`; `acquirer` must
keep answering for every name ever routed to, since attempts remember it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from core.payments.acquirer import Acquirer
from core.payments.ports import AcquirerRouter


class StaticAcquirerRouter:
    def __init__(self, acquirers: Mapping[str, Acquirer], routes: Mapping[str, str]) -> None:
        unknown = set(routes.values()) - set(acquirers)
        if unknown:
            raise ValueError(f"routes name unknown acquirers: {sorted(unknown)}")
        self._acquirers = dict(acquirers)
        self._routes = dict(routes)

    def route(self, payment_method_type: str) -> str:
        return self._routes[payment_method_type]

    def acquirer(self, name: str) -> Acquirer:
        return self._acquirers[name]


if TYPE_CHECKING:  # mypy proves the router fits the port
    _port: AcquirerRouter = StaticAcquirerRouter({}, {})
