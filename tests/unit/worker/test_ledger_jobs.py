"""The worker's ledger jobs, over the in-memory application."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.access.model import Principal
from core.access.roles import Role
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.use_cases import CreatePaymentIntent
from core.shared.secret import Secret
from core.vault.cards import CardInput
from servers.roles.worker.jobs import ledger_jobs
from tests.fakes import in_memory_app


async def test_a_disputed_capture_is_ingested_once_and_the_day_settles() -> None:
    app = in_memory_app()
    seeded = await app.api_keys.seed_merchant("Shop")
    shop = Principal(seeded.merchant.id, False, "key_test", Role.OWNER)
    assert app.vault is not None
    for number in ("4242424242424242", "4000000000000259"):
        intent = await app.payment_intents.create(shop, CreatePaymentIntent(5000, "usd"))
        card = CardInput(Secret(number), exp_month=12, exp_year=2040)
        token = await app.vault.tokenize_card(shop, card)
        await app.payments.confirm(shop, intent.id, ConfirmPaymentIntent(token.id))
    jobs = {job.name: job for job in ledger_jobs(app)}
    now = datetime.now(UTC)

    assert await jobs["disputes.ingest"].run(now, 1) == 1
    assert await jobs["disputes.ingest"].run(now, 1) == 0  # the feed's cursor moved on
    assert await jobs["ledger.settle"].run(now, 1) == 0  # nothing is due before T+2
    later = now + timedelta(days=3)
    assert await jobs["ledger.settle"].run(later, 1) == 1
    assert await jobs["ledger.settle"].run(later, 1) == 0  # settled once
    await app.aclose()
