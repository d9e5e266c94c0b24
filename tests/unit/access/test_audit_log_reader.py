"""Reading the audit log on the fakes: a merchant's own events, filters, pages, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from core.access.audit import Action, AuditEvent, Outcome
from core.access.audit_log import MAX_EXPORT, AuditFilter, ExportFormat
from core.access.model import Principal
from core.access.roles import Role
from core.shared.errors import FailedPrecondition, InvalidArgument
from servers.bootstrap.app import App
from tests.fakes import EPOCH, FixedClock, in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory

MERCHANT = Principal("acct_a", False, "usr_owner", Role.OWNER, user_id="usr_owner", origin="::1")


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(uow: MemoryUnitOfWorkFactory, clock: FixedClock) -> App:
    return in_memory_app(uow, clock=clock)


def event(minutes: int, action: Action, actor: str = "usr_owner", **fields: object) -> AuditEvent:
    values: dict[str, object] = {
        "occurred_at": EPOCH + timedelta(minutes=minutes),
        "action": action,
        "outcome": Outcome.SUCCESS,
        "actor": actor,
        "origin": "127.0.0.1",
        "merchant_id": "acct_a",
        "target": "key_1",
        "details": {"role": "ADMIN"},
    }
    return AuditEvent(**{**values, **fields})  # type: ignore[arg-type]


async def record(uow: MemoryUnitOfWorkFactory, *events: AuditEvent) -> None:
    async with uow() as tx:
        for e in events:
            await tx.audit.append(e)
        await tx.commit()


@pytest.fixture
async def logged(uow: MemoryUnitOfWorkFactory) -> None:
    await record(
        uow,
        event(1, Action.API_KEY_CREATE),
        event(2, Action.MEMBER_INVITE, target="inv_1"),
        event(3, Action.API_KEY_REVOKE, actor="usr_admin"),
        event(4, Action.API_KEY_CREATE, merchant_id="acct_b"),  # another merchant's
        event(5, Action.LOGIN, merchant_id=None, actor="anonymous"),  # no account
        event(6, Action.API_KEY_CREATE, actor="usr_admin"),
    )


async def test_lists_only_the_callers_events_newest_first_in_pages(app: App, logged: None) -> None:
    first = await app.audit_log.list(MERCHANT, AuditFilter(), limit=2)
    assert [r.event.occurred_at.minute for r in first.data] == [6, 3] and first.has_more
    cursor = f"aev_{first.data[-1].id}"
    second = await app.audit_log.list(MERCHANT, AuditFilter(), limit=2, starting_after=cursor)
    assert [r.event.occurred_at.minute for r in second.data] == [2, 1]
    assert not second.has_more


async def test_filters_by_actor_action_and_time(app: App, logged: None) -> None:
    def minutes(page: object) -> list[int]:
        return [r.event.occurred_at.minute for r in page.data]  # type: ignore[attr-defined]

    by_actor = await app.audit_log.list(MERCHANT, AuditFilter(actor="usr_admin"))
    assert minutes(by_actor) == [6, 3]
    by_action = await app.audit_log.list(MERCHANT, AuditFilter(action="api_key.create"))
    assert minutes(by_action) == [6, 1]
    window = AuditFilter(
        occurred_from=EPOCH + timedelta(minutes=2), occurred_to=EPOCH + timedelta(minutes=3)
    )
    assert minutes(await app.audit_log.list(MERCHANT, window)) == [3, 2]


@pytest.mark.parametrize(
    ("where", "cursor", "field"),
    [
        (AuditFilter(action="not.an.action"), "", "action"),
        (AuditFilter(occurred_from=EPOCH, occurred_to=EPOCH - timedelta(seconds=1)), "",
         "occurred.lte"),
        (AuditFilter(), "aev_4", "starting_after"),  # acct_b's event
        (AuditFilter(), "key_1", "starting_after"),
        (AuditFilter(), "aev_999", "starting_after"),
    ],
)  # fmt: skip
async def test_bad_filters_and_cursors_are_invalid_argument_naming_the_field(
    app: App, logged: None, where: AuditFilter, cursor: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await app.audit_log.list(MERCHANT, where, starting_after=cursor)
    assert raised.value.metadata["param"] == field


async def test_csv_export_has_a_header_quotes_formulas_and_is_audited(
    app: App, uow: MemoryUnitOfWorkFactory, logged: None
) -> None:
    await record(
        uow, event(7, Action.LOGIN, target='=HYPERLINK("http://x")', outcome=Outcome.FAILURE)
    )
    export = await app.audit_log.export(MERCHANT, AuditFilter(), ExportFormat.CSV)
    assert export.content_type.startswith("text/csv") and export.count == 5
    rows = list(csv.reader(io.StringIO(export.body.decode())))
    assert rows[0] == ["id", "occurred_at", "action", "outcome", "actor", "origin", "target",
                       "details"]  # fmt: skip
    assert rows[1][2:5] == ["auth.login", "FAILURE", "usr_owner"]
    assert rows[1][6] == '\'=HYPERLINK("http://x")'
    assert json.loads(rows[2][7]) == {"role": "ADMIN"}
    assert rows[1][1].endswith("Z")
    last = uow.store.tables.audit_events[-1]
    assert last.action is Action.AUDIT_LOG_EXPORT and last.merchant_id == "acct_a"
    assert last.details["format"] == "CSV" and last.details["count"] == "5"


async def test_json_export_renders_events_as_the_api_does(app: App, logged: None) -> None:
    export = await app.audit_log.export(
        MERCHANT, AuditFilter(action="api_key.revoke"), ExportFormat.JSON
    )
    assert export.content_type == "application/json"
    (only,) = json.loads(export.body)
    assert only["action"] == "api_key.revoke" and only["actor"] == "usr_admin"
    assert only["id"].startswith("aev_") and only["details"] == {"role": "ADMIN"}


async def test_an_export_larger_than_the_limit_asks_for_a_narrower_range(
    app: App, uow: MemoryUnitOfWorkFactory
) -> None:
    await record(uow, *(event(0, Action.API_KEY_CREATE) for _ in range(MAX_EXPORT + 1)))
    with pytest.raises(FailedPrecondition) as raised:
        await app.audit_log.export(MERCHANT, AuditFilter(), ExportFormat.CSV)
    assert raised.value.reason == "EXPORT_TOO_LARGE"
