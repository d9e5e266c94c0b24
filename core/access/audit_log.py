"""Reading the audit log: a merchant's own events, filtered and paged, and exported as
CSV or JSON. An export is itself recorded (audit_log.export): who took a copy of the log
is part of the log."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from core.access.audit import Action, AuditQuery, RecordedAuditEvent, caller_event
from core.access.model import Principal
from core.shared.errors import FailedPrecondition, Violations
from core.shared.pagination import Page, page_limit, unknown_cursor
from core.shared.ports import Clock
from core.shared.redaction import mask_pans
from core.unit_of_work import UnitOfWorkFactory

ID_PREFIX = "aev_"
MAX_EXPORT = 10_000
CSV_COLUMNS = ("id", "occurred_at", "action", "outcome", "actor", "origin", "target", "details")
_ID = re.compile(r"^aev_([1-9][0-9]{0,18})$")
# A spreadsheet runs a cell that starts with one of these as a formula; the log holds
# strings strangers typed (a login's email), so such cells are quoted (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    CSV = "CSV"
    JSON = "JSON"


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


@dataclass(frozen=True)
class AuditExport:
    content_type: str
    body: bytes
    count: int


def event_id(recorded: RecordedAuditEvent) -> str:
    return f"{ID_PREFIX}{recorded.id}"


class AuditLogReader:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def list(
        self, caller: Principal, where: AuditFilter, *, limit: int = 0, starting_after: str = ""
    ) -> Page[RecordedAuditEvent]:
        violations = Violations()
        limit = page_limit(limit, violations)
        query = _query(caller, where, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            if starting_after:
                cursor = _cursor_id(starting_after)
                # The cursor must be one of the merchant's events: the one just above it.
                found = await uow.audit.search(
                    AuditQuery(merchant_id=caller.merchant_id, before_id=cursor + 1), limit=1
                )
                if not found or found[0].id != cursor:
                    raise unknown_cursor()
                query = replace(query, before_id=cursor)
            rows = await uow.audit.search(query, limit=limit + 1)
        return Page.from_overfetch(list(rows), limit)

    async def export(
        self, caller: Principal, where: AuditFilter, export_format: ExportFormat
    ) -> AuditExport:
        violations = Violations()
        query = _query(caller, where, violations)
        violations.raise_if_any()
        async with self._uow() as uow:
            rows = await uow.audit.search(query, limit=MAX_EXPORT + 1)
            if len(rows) > MAX_EXPORT:
                raise FailedPrecondition(
                    f"More than {MAX_EXPORT} events match: narrow the time range.",
                    reason="EXPORT_TOO_LARGE",
                    metadata={"limit": str(MAX_EXPORT)},
                )
            details = {"format": export_format.value, "count": str(len(rows))}
            details.update({k: v for k, v in _filter_details(where).items() if v})
            await uow.audit.append(
                caller_event(caller, Action.AUDIT_LOG_EXPORT, self._clock.now(), details=details)
            )
            await uow.commit()
        if export_format is ExportFormat.JSON:
            body = json.dumps([as_json(r) for r in rows], ensure_ascii=False, indent=1)
            return AuditExport("application/json", body.encode(), len(rows))
        return AuditExport("text/csv; charset=utf-8", as_csv(rows).encode(), len(rows))


def as_json(recorded: RecordedAuditEvent) -> dict[str, object]:
    """An event as the API renders it (ListAuditEvents' JSON)."""
    event = recorded.event
    return {
        "id": event_id(recorded),
        "occurred_at": _rfc3339(event.occurred_at),
        "action": event.action.value,
        "outcome": event.outcome.value,
        "actor": event.actor,
        "origin": event.origin,
        "target": event.target,
        "details": dict(event.details),
    }


def as_csv(rows: Sequence[RecordedAuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for recorded in rows:
        fields = as_json(recorded)
        fields["details"] = json.dumps(fields["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(str(fields[c])) for c in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _query(caller: Principal, where: AuditFilter, violations: Violations) -> AuditQuery:
    if len(where.actor) > 100:
        violations.add("actor", "may be at most 100 characters")
    if len(where.action) > 100:
        violations.add("action", "may be at most 100 characters")
    elif where.action and where.action not in {a.value for a in Action}:
        shown = mask_pans(where.action[:40])  # a card number pasted here must not come back
        violations.add("action", f"{shown!r} is not an audit action")
    if (
        where.occurred_from is not None
        and where.occurred_to is not None
        and where.occurred_to < where.occurred_from
    ):
        violations.add("occurred.lte", "must not be before occurred.gte")
    return AuditQuery(
        merchant_id=caller.merchant_id,
        actor=where.actor,
        action=where.action,
        occurred_from=where.occurred_from,
        occurred_to=where.occurred_to,
    )


def _cursor_id(starting_after: str) -> int:
    match = _ID.match(starting_after)
    if match is None:
        raise unknown_cursor()
    return int(match.group(1))


def _filter_details(where: AuditFilter) -> dict[str, str]:
    return {
        "actor": where.actor,
        "action": where.action,
        "from": _rfc3339(where.occurred_from) if where.occurred_from else "",
        "to": _rfc3339(where.occurred_to) if where.occurred_to else "",
    }
