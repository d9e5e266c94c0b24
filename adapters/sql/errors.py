"""What PostgreSQL's errors mean to the repositories."""

from __future__ import annotations

from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from core.shared.errors import AlreadyExists, Unavailable

UNIQUE_VIOLATION = "23505"  # SQLSTATE unique_violation
# SQLSTATEs of a server that is going away or not there yet: connection exceptions (08),
# admin_shutdown, crash_shutdown, cannot_connect_now (a restart in progress).
_OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def is_outage(error: BaseException) -> bool:
    """True when `error` says the database could not be reached or went away during the
    call (stopped, restarted, network cut), not that the statement was wrong: the caller
    gets UNAVAILABLE and may retry, never INTERNAL."""
    seen: BaseException | None = error
    visited: set[int] = set()
    # A driver's error may name an error that names it back: walk each one once.
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        # PoolTimeout: every pooled connection is held by a statement waiting on a server
        # that does not answer, and no other came free within the pool's timeout.
        if isinstance(seen, (OSError, TimeoutError, PoolTimeout, OperationalError, InterfaceError)):
            return True
        # asyncpg's own, raised by code that talks to it directly: the connection closed
        # or lost under the statement ("connection is closed", "another operation is in
        # progress" on a connection whose statement was cut off). Its
        # ConnectionDoesNotExistError carries SQLSTATE 08003, matched below.
        if isinstance(seen, DriverInterfaceError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        sqlstate = getattr(seen, "sqlstate", None) or getattr(
            getattr(seen, "orig", None), "sqlstate", None
        )
        if isinstance(sqlstate, str) and sqlstate.startswith(_OUTAGE_SQLSTATES):
            return True
        seen = seen.__cause__
    return False


def unavailable() -> Unavailable:
    return Unavailable("The database is unavailable.")


def is_unique_violation(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION


def constraint_of(error: IntegrityError) -> str:
    """The constraint an integrity error names (asyncpg's exception, wrapped by
    SQLAlchemy's adapter, carries it), or ""."""
    cause = getattr(error.orig, "__cause__", None)
    return str(getattr(cause, "constraint_name", "") or "")


def already_exists(error: IntegrityError, what: str, object_id: str) -> Exception:
    """AlreadyExists for a duplicate key; any other integrity error as it was."""
    if is_unique_violation(error):
        return AlreadyExists(f"{what} {object_id!r} already exists.")
    return error
