"""Smart routing: which acquirers may take a payment, cheapest first.

A routing table is an ordered list of rules. The first rule whose conditions all hold
(payment method type, card network, currency, amount range, merchant) gives the
payment's candidates: its routes, each an acquirer with a cost, ordered by the cost of
this payment at that acquirer (fixed minor units + basis points of the amount; ties keep
the rule's order). The first candidate is tried first; the others are where failover may
go (core.payments.failover). No rule matching is a configuration error, answered as
"no acquirer available" (nothing is sent).

The table is configuration (servers/runtime/settings.py `routing`, JSON; docs/connectors.md),
parsed here so that a bad table fails at start-up with the field it does not like.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class RoutingConfigError(ValueError):
    """The routing table is malformed; the message names the rule and field."""


@dataclass(frozen=True)
class RouteCost:
    acquirer: str
    fixed: int = 0  # minor units of the payment's currency
    basis_points: int = 0  # 1/100 of a percent of the amount

    def of(self, amount: int) -> int:
        # Integer minor units, rounded up: a route never looks cheaper than it is.
        return self.fixed + -(-amount * self.basis_points // 10_000)


@dataclass(frozen=True)
class PaymentFacts:
    """What routing may look at: no card number, the network and the first six at most."""

    payment_method_type: str  # card | upi | wallet | netbanking
    currency: str  # ISO 4217, upper case
    amount: int  # minor units
    merchant_id: str
    network: str = ""  # card brand, lower case: visa, mastercard, ...


@dataclass(frozen=True)
class RouteRule:
    name: str
    routes: tuple[RouteCost, ...]
    methods: frozenset[str] = frozenset()  # empty: any
    networks: frozenset[str] = frozenset()
    currencies: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    min_amount: int = 0
    max_amount: int | None = None

    def matches(self, facts: PaymentFacts) -> bool:
        return (
            _allows(self.methods, facts.payment_method_type)
            and _allows(self.networks, facts.network)
            and _allows(self.currencies, facts.currency)
            and _allows(self.merchants, facts.merchant_id)
            and facts.amount >= self.min_amount
            and (self.max_amount is None or facts.amount <= self.max_amount)
        )


def _allows(allowed: frozenset[str], value: str) -> bool:
    return not allowed or value in allowed


@dataclass(frozen=True)
class RouteDecision:
    """The rule that matched and the acquirers to try, in order."""

    rule: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RouteRule, ...] = field(default_factory=tuple)

    def decide(self, facts: PaymentFacts) -> RouteDecision | None:
        for rule in self.rules:
            if rule.matches(facts):
                ordered = sorted(
                    enumerate(rule.routes), key=lambda item: (item[1].of(facts.amount), item[0])
                )
                return RouteDecision(rule.name, tuple(route.acquirer for _, route in ordered))
        return None

    def acquirers(self) -> set[str]:
        return {route.acquirer for rule in self.rules for route in rule.routes}

    @classmethod
    def simple(cls, routes: Mapping[str, Sequence[str]]) -> RoutingTable:
        """One rule per payment method type, its acquirers in the order given."""
        return cls(
            tuple(
                RouteRule(
                    name=method,
                    methods=frozenset({method}),
                    routes=tuple(RouteCost(acquirer) for acquirer in acquirers),
                )
                for method, acquirers in routes.items()
            )
        )

    @classmethod
    def from_json(cls, text: str) -> RoutingTable:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise RoutingConfigError(f"routing is not JSON: {error}") from None
        if not isinstance(raw, list) or not raw:
            raise RoutingConfigError("routing must be a non-empty JSON list of rules")
        return cls(tuple(_rule(i, item) for i, item in enumerate(raw)))


_RULE_KEYS = {"name", "method", "network", "currency", "merchant", "min_amount", "max_amount",
              "routes"}  # fmt: skip


def _rule(index: int, raw: Any) -> RouteRule:
    where = f"routing[{index}]"
    if not isinstance(raw, dict):
        raise RoutingConfigError(f"{where} must be an object")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise RoutingConfigError(f"{where} has unknown fields {sorted(unknown)}")
    routes = raw.get("routes")
    if not isinstance(routes, list) or not routes:
        raise RoutingConfigError(f"{where}.routes must list at least one acquirer")
    return RouteRule(
        name=str(raw.get("name") or f"rule-{index}"),
        routes=tuple(_route(f"{where}.routes[{i}]", r) for i, r in enumerate(routes)),
        methods=_set(where, "method", raw.get("method")),
        networks=_set(where, "network", raw.get("network")),
        currencies=frozenset(c.upper() for c in _set(where, "currency", raw.get("currency"))),
        merchants=_set(where, "merchant", raw.get("merchant")),
        min_amount=_amount(where, "min_amount", raw.get("min_amount", 0)),
        max_amount=(
            None
            if raw.get("max_amount") is None
            else _amount(where, "max_amount", raw["max_amount"])
        ),
    )


def _route(where: str, raw: Any) -> RouteCost:
    if isinstance(raw, str):
        return RouteCost(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("acquirer"), str):
        raise RoutingConfigError(f"{where} must be an acquirer name or {{acquirer, cost}}")
    cost = raw.get("cost", {})
    if not isinstance(cost, dict):
        raise RoutingConfigError(f"{where}.cost must be an object")
    return RouteCost(
        raw["acquirer"],
        fixed=_amount(where, "cost.fixed", cost.get("fixed", 0)),
        basis_points=_amount(where, "cost.basis_points", cost.get("basis_points", 0)),
    )


def _set(where: str, key: str, raw: Any) -> frozenset[str]:
    if raw is None:
        return frozenset()
    values: Iterable[Any] = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list | tuple) and not isinstance(raw, str):
        raise RoutingConfigError(f"{where}.{key} must be a string or a list of strings")
    if not all(isinstance(v, str) and v for v in values):
        raise RoutingConfigError(f"{where}.{key} must be a string or a list of strings")
    return frozenset(values)


def _amount(where: str, key: str, raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise RoutingConfigError(f"{where}.{key} must be a non-negative integer")
    return raw
