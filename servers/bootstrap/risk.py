"""The risk engine from settings: the rules file, the velocity store (Redis when REDIS_URL
is set, so that every API process counts the same payments; else in process), the
merchants' overrides and the IP country table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.memory.velocity import MemoryVelocityStore
from adapters.redis.velocity import RedisVelocityStore
from adapters.risk.ip_countries import IpCountryTable
from adapters.risk.rules_file import load_rules
from core.risk.engine import RiskEngine, RuleSet
from core.risk.overrides import RiskSettings
from core.risk.ports import IpCountries, NoIpCountries, RiskObserver, VelocityStore
from core.shared.ports import Clock
from core.unit_of_work import UnitOfWorkFactory
from servers.runtime.settings import Settings


@dataclass
class RiskAccess:
    engine: RiskEngine
    settings: RiskSettings
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def rules_of(settings: Settings) -> RuleSet:
    """The rules file of the settings; raises RulesFileError naming the line of a mistake."""
    return load_rules(Path(settings.risk_rules_file) if settings.risk_rules_file else None)


def ip_countries_of(settings: Settings) -> IpCountries:
    if not settings.risk_ip_countries_file:
        return NoIpCountries()
    return IpCountryTable.from_file(Path(settings.risk_ip_countries_file))


def risk_engine(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    *,
    observer: RiskObserver | None = None,
) -> RiskAccess:
    rules = rules_of(settings)
    overrides = RiskSettings(rules, uow, clock)
    velocity: VelocityStore
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.redis_url:
        redis_store = RedisVelocityStore.from_url(settings.redis_url)
        velocity = redis_store
        closers.append(redis_store.aclose)
    else:
        velocity = MemoryVelocityStore()
    engine = RiskEngine(
        rules,
        velocity,
        overrides=overrides,
        ip_countries=ip_countries_of(settings),
        observer=observer,
    )
    return RiskAccess(engine, overrides, closers)
