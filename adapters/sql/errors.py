"""What PostgreSQL's errors mean to the repositories."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core.shared.errors import AlreadyExists

UNIQUE_VIOLATION = "23505"  # SQLSTATE unique_violation


def is_unique_violation(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION


def already_exists(error: IntegrityError, what: str, object_id: str) -> Exception:
    """AlreadyExists for a duplicate key; any other integrity error as it was."""
    if is_unique_violation(error):
        return AlreadyExists(f"{what} {object_id!r} already exists.")
    return error
