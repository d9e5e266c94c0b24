"""A database that is not there is UNAVAILABLE, never INTERNAL (adapters/sql/errors.py)."""

from __future__ import annotations

import pytest
from asyncpg.exceptions import ConnectionDoesNotExistError
from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.sql.errors import is_outage, unavailable
from core.shared.errors import Unavailable


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(error: Exception, cls: type[DBAPIError] = DBAPIError) -> DBAPIError:
    return cls("SELECT 1", {}, error)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        FileNotFoundError("/socket/.s.PGSQL.5432"),
        TimeoutError(),
        PoolTimeout("QueuePool limit of size 5 overflow 2 reached"),
        wrapped(DriverError("XX000"), OperationalError),
        wrapped(DriverError("XX000"), InterfaceError),
        wrapped(DriverError("57P01")),  # admin_shutdown: pg_ctl stop
        wrapped(DriverError("57P03")),  # cannot_connect_now: starting up
        wrapped(DriverError("08006")),  # connection_failure
        # asyncpg's own, unwrapped: raised where the driver is used directly.
        ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        DriverInterfaceError("cannot perform operation: another operation is in progress"),
        DriverInterfaceError("cannot perform operation: connection is closed"),
    ],
)
def test_a_lost_or_missing_server_is_an_outage(error: Exception) -> None:
    assert is_outage(error)


def test_an_outage_seen_through_a_later_exception_is_one() -> None:
    try:
        try:
            raise ConnectionResetError()
        except ConnectionResetError as lost:
            raise RuntimeError("while committing") from lost
    except RuntimeError as error:
        assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(DriverError("23505"), IntegrityError),
        wrapped(DriverError("40001")),
        ValueError("bad input"),
    ],
)
def test_a_statement_that_failed_is_not_an_outage(error: Exception) -> None:
    assert not is_outage(error)


def test_an_outage_is_unavailable() -> None:
    assert isinstance(unavailable(), Unavailable)


def test_an_error_chain_that_loops_is_read_once() -> None:
    # A driver error may name an error that names it back; the check must still end.
    first, second = ValueError("statement"), KeyError("driver")
    first.__cause__, second.__cause__ = second, first
    assert not is_outage(first)
