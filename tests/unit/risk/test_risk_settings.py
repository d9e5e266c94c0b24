"""A merchant's risk settings: validated, stored, audited, read through a short cache."""

from __future__ import annotations

import pytest

from adapters.risk.rules_file import load_rules
from core.access.audit import Action
from core.access.model import Principal
from core.access.roles import Role
from core.risk.model import NO_OVERRIDES, MerchantOverrides
from core.risk.overrides import OVERRIDE_CACHE_TTL, RiskSettings
from core.shared.errors import InvalidArgument
from tests.fakes import FixedClock
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

OWNER = Principal(merchant_id="acct_a", livemode=False, actor="key_owner", role=Role.OWNER)


@pytest.fixture
def world() -> tuple[RiskSettings, MemoryUnitOfWorkFactory, FixedClock]:
    uow, clock = MemoryUnitOfWorkFactory(), FixedClock()
    return RiskSettings(load_rules(), uow, clock), uow, clock


async def test_an_update_is_stored_and_audited(
    world: tuple[RiskSettings, MemoryUnitOfWorkFactory, FixedClock],
) -> None:
    settings, uow, _ = world
    wanted = MerchantOverrides(
        block_threshold=90, disabled_rules=frozenset({"prepaid_card"}), scores={"large_amount": 30}
    )
    assert await settings.update(OWNER, wanted) == wanted
    assert await settings.get(OWNER) == wanted
    assert await settings.for_merchant("acct_a") == wanted
    async with uow() as tx:
        [event] = await tx.audit.recent(merchant_id="acct_a")
    assert (event.action, event.actor, event.target) == (
        Action.RISK_RULES_CHANGE, "key_owner", "risk_rules",
    )  # fmt: skip
    assert event.details["block_threshold"] == "90"
    assert event.details["disabled_rules"] == "prepaid_card"

    await settings.update(OWNER, NO_OVERRIDES)  # back to the rules file
    assert await settings.get(OWNER) == NO_OVERRIDES


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (MerchantOverrides(disabled_rules=frozenset({"no_such_rule"})), "disabled_rules"),
        (MerchantOverrides(scores={"no_such_rule": 5}), "scores"),
        (MerchantOverrides(scores={"large_amount": 101}), "scores[large_amount]"),
        (MerchantOverrides(block_threshold=0), "block_threshold"),
        (MerchantOverrides(review_threshold=85), "review_threshold"),  # above the file's 80
        (MerchantOverrides(review_threshold=60, block_threshold=55), "review_threshold"),
    ],
)
async def test_a_bad_update_names_the_field_and_changes_nothing(
    world: tuple[RiskSettings, MemoryUnitOfWorkFactory, FixedClock],
    overrides: MerchantOverrides,
    field: str,
) -> None:
    settings, uow, _ = world
    with pytest.raises(InvalidArgument) as raised:
        await settings.update(OWNER, overrides)
    assert raised.value.violations[0].field == field
    assert await settings.get(OWNER) == NO_OVERRIDES
    async with uow() as tx:
        assert await tx.audit.recent(merchant_id="acct_a") == []


async def test_other_processes_see_a_change_within_the_cache_ttl(
    world: tuple[RiskSettings, MemoryUnitOfWorkFactory, FixedClock],
) -> None:
    settings, uow, clock = world
    other_process = RiskSettings(settings.rules, uow, clock)
    assert await other_process.for_merchant("acct_a") == NO_OVERRIDES
    changed = MerchantOverrides(block_threshold=95)
    await settings.update(OWNER, changed)
    assert await settings.for_merchant("acct_a") == changed  # at once where it was made
    assert await other_process.for_merchant("acct_a") == NO_OVERRIDES  # cached
    clock.advance(seconds=OVERRIDE_CACHE_TTL.total_seconds())
    assert await other_process.for_merchant("acct_a") == changed
