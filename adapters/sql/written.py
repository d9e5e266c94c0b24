"""The tables a statement writes: its own (INSERT, UPDATE, DELETE) and those of the
data-modifying CTEs it carries (an attempt written with its intent and the intent's
history lines is one statement over three tables, adapters/sql/payments/attempts.py).

The unit of work names a transaction's phase at the fail points around its commit by the
tables it wrote (adapters/failpoints.py), so that a fail point armed on any one of them
fires whichever statement wrote it. Asked only while fail points are armed."""

from __future__ import annotations

import contextlib
import weakref
from typing import Any

from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import CTE

_KNOWN: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


def tables_written(statement: Any) -> frozenset[str]:
    """The names of the tables `statement` writes; empty for a read or raw SQL."""
    try:
        return _KNOWN[statement]
    except (KeyError, TypeError):
        pass
    names: set[str] = set()
    if isinstance(statement, UpdateBase):
        names.add(str(getattr(statement.table, "name", statement.table)))
        ctes = [*getattr(statement, "_independent_ctes", ())]
        ctes += [e for e in visitors.iterate(statement) if isinstance(e, CTE)]
        for cte in ctes:
            if isinstance(cte.element, UpdateBase):
                names |= tables_written(cte.element)
    found = frozenset(names)
    with contextlib.suppress(TypeError):  # not weakly referenceable: asked again next time
        _KNOWN[statement] = found
    return found
