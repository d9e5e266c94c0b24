"""The emails outbox and the mail directory: PostgreSQL and the in-memory fake alike."""

from __future__ import annotations

from adapters.system import RandomIds
from core.notifications.model import Email, EmailKind, EmailStatus
from core.unit_of_work import UnitOfWorkFactory
from tests.contract.helpers import T0, add_intent, later


def new_email(ids: RandomIds, merchant_id: str, event_id: str, **fields: object) -> Email:
    email = Email(
        id=ids.new("eml"), merchant_id=merchant_id, event_id=event_id,
        kind=EmailKind.PAYMENT_RECEIPT, recipient="shopper@example.test", subject="s",
        text_body="t", html_body="<p>h</p>", created=T0, next_attempt_at=T0,
    )  # fmt: skip
    for name, value in fields.items():
        setattr(email, name, value)
    return email


async def test_one_email_per_event_and_kind(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    event_id = ids.new("evt")
    async with any_uow_factory() as uow:
        assert await uow.emails.add(new_email(ids, merchant_id, event_id))
        assert not await uow.emails.add(new_email(ids, merchant_id, event_id))
        assert await uow.emails.add(
            new_email(ids, merchant_id, event_id, kind=EmailKind.DISPUTE_ALERT)
        )
        await uow.commit()
    async with any_uow_factory() as uow:
        kinds = {e.kind for e in await uow.emails.for_event(event_id)}
    assert kinds == {EmailKind.PAYMENT_RECEIPT, EmailKind.DISPUTE_ALERT}


async def test_claim_takes_due_pending_emails_under_a_lease_and_update_records(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    due = new_email(ids, merchant_id, ids.new("evt"))
    later_one = new_email(ids, merchant_id, ids.new("evt"), next_attempt_at=later(3600))
    sent = new_email(ids, merchant_id, ids.new("evt"), status=EmailStatus.SENT)
    async with any_uow_factory() as uow:
        for email in (due, later_one, sent):
            await uow.emails.add(email)
        await uow.commit()
    async with any_uow_factory() as uow:
        claimed = [e for e in await uow.emails.claim_due(later(1), limit=100,
                                                          lease_until=later(120))
                   if e.merchant_id == merchant_id]  # fmt: skip
        await uow.commit()
    assert [e.id for e in claimed] == [due.id]
    async with any_uow_factory() as uow:
        again = await uow.emails.claim_due(later(2), limit=100, lease_until=later(120))
        assert due.id not in [e.id for e in again]  # leased
        claimed[0].sent(later(3))
        await uow.emails.update(claimed[0])
        await uow.commit()
    async with any_uow_factory() as uow:
        [stored] = await uow.emails.for_event(due.event_id)
    assert (stored.status, stored.attempts, stored.sent_at) == (EmailStatus.SENT, 1, later(3))


async def test_receipt_details_and_owner_email(
    any_uow_factory: UnitOfWorkFactory, ids: RandomIds, merchant_id: str
) -> None:
    intent = await add_intent(any_uow_factory, ids, merchant_id, receipt_email="a@b.test")
    async with any_uow_factory() as uow:
        details = await uow.mail_directory.receipt_details(merchant_id, intent.id)
        assert (details.email, details.card_last4) == ("a@b.test", "")
        assert (await uow.mail_directory.receipt_details("acct_other", intent.id)).email == ""
        assert await uow.mail_directory.merchant_name(merchant_id) == "Contract Test Ltd"
        assert await uow.mail_directory.owner_email(merchant_id) == ""  # no members
