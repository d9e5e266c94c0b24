"""GET /v1/balance and GET /v1/balance_transactions, each in a read-only unit of work."""

from __future__ import annotations

from core.access.model import Principal
from core.ledger.model import BalanceTransaction, BalanceTransactionType, MerchantBalance
from core.ledger.use_cases import get_balance, list_balance_transactions
from core.shared.pagination import Page
from core.unit_of_work import UnitOfWorkFactory

__all__ = ["Balances"]


class Balances:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, caller: Principal) -> MerchantBalance:
        async with self._uow() as uow:
            return await get_balance(uow.ledger, caller.merchant_id, caller.livemode)

    async def transactions(
        self,
        caller: Principal,
        *,
        limit: int = 0,
        starting_after: str = "",
        type: BalanceTransactionType | None = None,
        source: str = "",
    ) -> Page[BalanceTransaction]:
        async with self._uow() as uow:
            return await list_balance_transactions(
                uow.ledger,
                caller.merchant_id,
                limit=limit,
                starting_after=starting_after,
                type=type,
                source=source,
                livemode=caller.livemode,
            )
