"""The SQL unit of work builds each repository the first time it is asked for it, on the
checkout's connection: every repository core's UnitOfWork declares, none before it is
used, a new set after the unit of work is entered again."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.sql.unit_of_work import _REPOSITORIES, SqlUnitOfWork
from core.unit_of_work import UnitOfWork


class _Connection:
    """What `_bind` is given: the checkout's LazyTransaction, as far as it matters here."""

    keys: Any = None


def _uow() -> SqlUnitOfWork:
    return SqlUnitOfWork(engine=None)  # type: ignore[arg-type]  # never checks out here


def _declared() -> set[str]:
    names: set[str] = set()
    for scope in UnitOfWork.__mro__:
        names |= set(vars(scope).get("__annotations__", {}))
    return names


def test_every_repository_core_declares_is_built_and_only_those() -> None:
    assert set(_REPOSITORIES) == _declared()
    assert set(_REPOSITORIES) == set(SqlUnitOfWork.__annotations__)


def test_a_repository_is_built_on_first_use_on_the_checkouts_connection() -> None:
    uow, connection = _uow(), _Connection()
    uow._bind(connection)
    assert not set(_REPOSITORIES) & set(vars(uow))
    intents = uow.payment_intents
    assert intents is uow.payment_intents
    assert connection in vars(intents).values()
    assert set(_REPOSITORIES) & set(vars(uow)) == {"payment_intents"}


def test_each_declared_repository_has_the_declared_type() -> None:
    uow = _uow()
    uow._bind(_Connection())
    for name, kind in SqlUnitOfWork.__annotations__.items():
        assert type(getattr(uow, name)).__name__ == kind


def test_entered_again_it_builds_them_on_the_new_connection() -> None:
    uow, first, second = _uow(), _Connection(), _Connection()
    uow._bind(first)
    before = uow.ledger
    uow._bind(second)
    after = uow.ledger
    assert after is not before
    assert second in vars(after).values() and first not in vars(after).values()


def test_before_any_checkout_and_for_other_names_there_is_no_attribute() -> None:
    uow = _uow()
    with pytest.raises(AttributeError):
        _ = uow.payment_intents
    uow._bind(_Connection())
    with pytest.raises(AttributeError):
        _ = uow.no_such_repository  # type: ignore[attr-defined]
