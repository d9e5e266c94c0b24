"""Cursor pagination of API.md: `limit` (1..100, default 10), `starting_after`, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from core.shared.errors import InvalidArgument, Violations

DEFAULT_LIMIT = 10
MAX_LIMIT = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool

    @classmethod
    def from_overfetch(cls, rows: list[T], limit: int) -> Page[T]:
        """Repositories are asked for limit + 1 rows: the extra one only says more exist."""
        return cls(data=rows[:limit], has_more=len(rows) > limit)


def page_limit(limit: int, violations: Violations) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        violations.add("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def unknown_cursor() -> InvalidArgument:
    """`starting_after` must name an object of the list (an id from a previous page): an
    unknown one is a mistake to report, not an empty page a client would take for the end."""
    return InvalidArgument.field(
        "starting_after", "names no object of this list: pass an id from a previous page"
    )
