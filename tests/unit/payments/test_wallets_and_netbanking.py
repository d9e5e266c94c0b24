"""Wallet and net banking payments in the payments core, over the simulators' books in
process: the payer is sent to the provider's page (REQUIRES_ACTION, REDIRECT_TO_URL),
answers there, and the gateway learns the outcome by asking (sync_attempt, the poller's
call); a late confirmation keeps the intent waiting until it comes; refunds go back to
the same acquirer. Bad input names its field before anything is written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.payments.acquirer import DeclineCode
from core.payments.errors import PaymentFailed
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import AttemptStatus, PaymentIntent, PaymentMethodDetails, Status
from core.payments.refunds import CreateRefund
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import InvalidArgument
from sandbox.psp.netbanking_simulator import NetBankingBooks
from sandbox.psp.redirect_books import RedirectBooks
from sandbox.psp.wallet_simulator import WalletBooks
from tests.unit.payments.conftest import World, build_world, publishable_key, secret_key

LATE = 30.0


@dataclass
class Shop:
    world: World
    wallet: WalletBooks
    bank: NetBankingBooks

    def books(self, method: str) -> RedirectBooks:
        return self.wallet if method == "wallet" else self.bank

    async def waiting(self, method: str, choice: str, amount: int = 50_000) -> PaymentIntent:
        intent = await self.world.intent(amount, currency="inr", types=("card", method))
        command = (
            ConfirmPaymentIntent(wallet_provider=choice)
            if method == "wallet"
            else ConfirmPaymentIntent(netbanking_bank=choice)
        )
        return await self.world.payments.confirm(secret_key(), intent.id, command)

    async def attempt_id(self, intent: PaymentIntent) -> str:
        async with self.world.uow() as uow:
            [attempt] = await uow.payment_attempts.for_intent(intent.merchant_id, intent.id)
        return attempt.id


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    wallet = WalletBooks(late_delay=LATE, page_base="https://wallet.example/pay")
    bank = NetBankingBooks(late_delay=LATE, page_base="https://bank.example/bank")
    world = build_world(by_method={"wallet": wallet, "netbanking": bank})
    wallet._clock = bank._clock = world.clock  # one clock for the gateway and the books
    try:
        yield Shop(world, wallet, bank)
    finally:
        await world.upi.aclose()


@pytest.mark.parametrize(
    ("method", "choice", "identity"),
    [("wallet", "PayTM", "9999999999"), ("netbanking", "hdfc", "success")],
)
async def test_approved_on_the_page_then_learned_by_asking_and_refunded(
    shop: Shop, method: str, choice: str, identity: str
) -> None:
    waiting = await shop.waiting(method, choice)
    assert waiting.status is Status.REQUIRES_ACTION
    assert waiting.next_action is not None and waiting.next_action.type == "REDIRECT_TO_URL"
    attempt_id = await shop.attempt_id(waiting)
    assert waiting.next_action.url.endswith(f"/{attempt_id}")

    await shop.books(method).answer(attempt_id, identity, approve=True)
    paid = await shop.world.payments.sync_attempt(attempt_id)
    assert paid.status is Status.SUCCEEDED and paid.amount_received == 50_000
    async with shop.world.uow() as uow:
        attempt = await uow.payment_attempts.get(attempt_id)
    assert attempt is not None and attempt.acquirer == method
    assert attempt.payment_method_type == method and attempt.status is AttemptStatus.CAPTURED

    refund = await shop.world.refunds.create(
        secret_key(), CreateRefund(payment_intent=paid.id, amount=20_000)
    )
    assert refund.status.value == "SUCCEEDED"
    settled = [(r.kind.value, r.amount.amount) for r in shop.books(method).settlement]
    assert settled == [("CAPTURE", 50_000), ("REFUND", 20_000)]


async def test_declined_on_the_page_is_payment_declined(shop: Shop) -> None:
    waiting = await shop.waiting("netbanking", "ICIC")
    attempt_id = await shop.attempt_id(waiting)
    await shop.bank.answer(attempt_id, "insufficient", approve=True)
    failed = await shop.world.payments.sync_attempt(attempt_id)
    assert failed.status is Status.REQUIRES_PAYMENT_METHOD
    error = failed.last_payment_error
    assert error is not None and error.code.value == "PAYMENT_DECLINED"
    assert error.decline_code == DeclineCode.INSUFFICIENT_FUNDS


async def test_a_bank_that_confirms_late_keeps_the_intent_waiting(shop: Shop) -> None:
    waiting = await shop.waiting("netbanking", "SBIN")  # State Bank confirms late
    attempt_id = await shop.attempt_id(waiting)
    await shop.bank.answer(attempt_id, "success", approve=True)
    still = await shop.world.payments.sync_attempt(attempt_id)
    assert still.status is Status.REQUIRES_ACTION
    shop.world.clock.advance(seconds=LATE)
    paid = await shop.world.payments.sync_attempt(attempt_id)
    assert paid.status is Status.SUCCEEDED


async def test_a_wallet_confirm_that_fails_at_once_is_an_error(shop: Shop) -> None:
    waiting = await shop.waiting("wallet", "phonepe")
    attempt_id = await shop.attempt_id(waiting)
    await shop.wallet.answer(attempt_id, "", approve=False)
    declined = await shop.world.payments.sync_attempt(attempt_id)
    assert declined.last_payment_error is not None
    assert declined.last_payment_error.decline_code == DeclineCode.DECLINED_BY_PAYER
    # The intent takes another method then.
    with pytest.raises(PaymentFailed):
        await shop.world.payments.confirm(
            secret_key(),
            declined.id,
            ConfirmPaymentIntent(payment_method=shop.world.token("4000000000000002")),
        )


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ConfirmPaymentIntent(wallet_provider="applepay"), "wallet.provider"),
        (ConfirmPaymentIntent(wallet_provider=""), "wallet.provider"),
        (ConfirmPaymentIntent(netbanking_bank="CHAS"), "netbanking.bank"),
        (ConfirmPaymentIntent(netbanking_bank=" "), "netbanking.bank"),
        (ConfirmPaymentIntent(payment_method="pm_x", wallet_provider="paytm"), "payment_method"),
        (ConfirmPaymentIntent(wallet_provider="paytm", netbanking_bank="HDFC"), "wallet"),
    ],
)
async def test_bad_wallet_or_bank_names_the_field(
    shop: Shop, command: ConfirmPaymentIntent, field: str
) -> None:
    intent = await shop.world.intent(currency="inr", types=("wallet", "netbanking"))
    with pytest.raises(InvalidArgument) as raised:
        await shop.world.payments.confirm(secret_key(), intent.id, command)
    assert raised.value.metadata["param"] == field
    assert await shop.world.stored(intent.id) == intent


async def test_an_intent_that_does_not_allow_the_method(shop: Shop) -> None:
    intent = await shop.world.intent(currency="inr", types=("card", "wallet"))
    with pytest.raises(InvalidArgument) as raised:
        await shop.world.payments.confirm(
            secret_key(), intent.id, ConfirmPaymentIntent(netbanking_bank="HDFC")
        )
    assert raised.value.metadata["param"] == "netbanking"


@pytest.mark.parametrize("method", ["wallet", "netbanking"])
async def test_wallets_and_net_banking_are_inr_only(shop: Shop, method: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await shop.world.intents.create(
            secret_key(),
            CreatePaymentIntent(amount=1000, currency="usd", payment_method_types=("card", method)),
        )
    assert raised.value.metadata["param"] == "payment_method_types[1]"
    assert "INR" in str(raised.value)


# --- which wallet or bank: on the attempt, and on the intent as payment_method_details ---


@pytest.mark.parametrize(
    ("method", "choice", "identity", "details"),
    [
        ("wallet", "PayTM", "9999999999", PaymentMethodDetails("wallet", wallet_provider="paytm")),
        (
            "netbanking",
            "hdfc",
            "success",
            PaymentMethodDetails("netbanking", netbanking_bank="HDFC"),
        ),
    ],
)
async def test_the_wallet_or_bank_chosen_is_recorded_in_its_canonical_form(
    shop: Shop, method: str, choice: str, identity: str, details: PaymentMethodDetails
) -> None:
    waiting = await shop.waiting(method, choice)
    assert waiting.payment_method_details == details
    attempt_id = await shop.attempt_id(waiting)
    async with shop.world.uow() as uow:
        attempt = await uow.payment_attempts.get(attempt_id)
    assert attempt is not None and attempt.method_details == details
    assert (attempt.card_brand, attempt.card_last4, attempt.upi_vpa) == ("", "", "")

    await shop.books(method).answer(attempt_id, identity, approve=True)
    paid = await shop.world.payments.sync_attempt(attempt_id)
    assert paid.status is Status.SUCCEEDED
    assert (await shop.world.stored(paid.id)).payment_method_details == details


async def test_a_declined_bank_stays_on_the_intent_until_the_next_method_replaces_it(
    shop: Shop,
) -> None:
    waiting = await shop.waiting("netbanking", "ICIC")
    await shop.bank.answer(await shop.attempt_id(waiting), "insufficient", approve=True)
    declined = await shop.world.payments.sync_attempt(await shop.attempt_id(waiting))
    assert declined.status is Status.REQUIRES_PAYMENT_METHOD
    # As Stripe keeps a failed charge's payment_method_details: what was declined.
    assert declined.payment_method_details == PaymentMethodDetails(
        "netbanking", netbanking_bank="ICIC"
    )
    paid = await shop.world.confirm_card(declined)
    assert paid.payment_method_details == PaymentMethodDetails(
        "card", card_brand="visa", card_last4="4242"
    )


async def test_a_browser_with_the_client_secret_does_not_see_the_method_details(
    shop: Shop,
) -> None:
    waiting = await shop.waiting("wallet", "amazonpay")
    seen = await shop.world.intents.get(
        publishable_key(), waiting.id, client_secret=waiting.client_secret
    )
    assert seen.status is Status.REQUIRES_ACTION and seen.payment_method_details is None


async def test_a_card_and_a_upi_address_are_described_the_same_way(shop: Shop) -> None:
    card = await shop.world.confirm_card(await shop.world.intent(), "5555555555554444")
    assert card.payment_method_details == PaymentMethodDetails(
        "card", card_brand="mastercard", card_last4="4444"
    )
    upi = await shop.world.payments.confirm(
        secret_key(),
        (await shop.world.intent(currency="inr", types=("upi",))).id,
        ConfirmPaymentIntent(upi_vpa="Buyer@UPI"),
    )
    assert upi.payment_method_details == PaymentMethodDetails("upi", upi_vpa="buyer@upi")


async def test_a_blocked_attempt_is_described_too(shop: Shop) -> None:
    intent = await shop.world.intent()
    with pytest.raises(PaymentFailed):
        await shop.world.confirm_card(intent, "4100000000000019")  # blocked by the risk engine
    stored = await shop.world.stored(intent.id)
    assert stored.payment_method_details == PaymentMethodDetails(
        "card", card_brand="visa", card_last4="0019"
    )
