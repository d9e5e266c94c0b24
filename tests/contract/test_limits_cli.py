"""`paygate limits set`: an operator's command over the real database."""

from __future__ import annotations

from sqlalchemy import text

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds
from servers.cli import limits as limits_cli
from tests.contract.helpers import add_merchant
from tests.contract.test_ledger_cli import Said


async def test_limits_are_set_for_each_merchant_audited_and_cleared(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    first, second = await add_merchant(uow_factory, ids), await add_merchant(uow_factory, ids)
    said = Said()
    code = await limits_cli.set_limits(
        database_url, [first, second], "payments_create", ["1000/second", "1000000/hour"], said
    )
    assert code == limits_cli.OK
    async with uow_factory() as uow:
        for merchant in (first, second):
            overrides = await uow.rate_limit_overrides.for_merchant(merchant)
            assert overrides == {"payments_create": ("1000/second", "1000000/hour")}
        actors = (
            await uow.connection.execute(
                text(
                    "SELECT actor FROM audit_events WHERE merchant_id = :m "
                    "AND action = 'account.rate_limits_change'"
                ),
                {"m": first},
            )
        ).scalars()
        assert list(actors) == [limits_cli.OPERATOR]

    assert await limits_cli.set_limits(database_url, [first], "payments_create", [], said) == 0
    async with uow_factory() as uow:
        assert await uow.rate_limit_overrides.for_merchant(first) == {}  # the defaults again


async def test_bad_input_changes_nothing(
    uow_factory: SqlUnitOfWorkFactory, database_url: str, ids: RandomIds
) -> None:
    merchant = await add_merchant(uow_factory, ids)
    said = Said()
    for merchants, route_class, limits in (
        ([merchant], "login", ["5/second"]),  # counted per address, not per merchant
        ([merchant], "payments_create", ["lots"]),
        (["acct_unknown"], "payments_create", ["5/second"]),
    ):
        code = await limits_cli.set_limits(database_url, merchants, route_class, limits, said)
        assert code == limits_cli.BAD_INPUT
    async with uow_factory() as uow:
        assert await uow.rate_limit_overrides.for_merchant(merchant) == {}
    assert [level for level, _, _ in said.lines] == ["error", "error", "error"]
