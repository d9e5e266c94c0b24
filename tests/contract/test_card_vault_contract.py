"""What every CardVault (core.payments.ports) must do, run against every implementation:
the payments tests' fake, the real vault in this process (embedded mode), and the real
vault behind the vault role's server with its gRPC client, tokens tokenized by the zone
handing their card profiles over (split mode, adapters/vault/profile_handoff.py). The
vault's own cases, over gRPC too, are in tests/contract/vault/test_vault_detokenization.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from adapters.system import RandomIds, SystemClock
from adapters.vault.grpc_client import GrpcVault
from adapters.vault.in_process import InProcessCardVault
from adapters.vault.profile_handoff import MemoryProfileHandoff, ProfileHandingVault
from core.access.model import Principal
from core.access.roles import Role
from core.payments.ports import VaultForPayments
from core.shared.errors import FailedPrecondition, NotFound, PaygateError
from core.shared.secret import Secret
from core.vault.cards import CardInput
from core.vault.ports import VaultApi
from servers.roles.vault.server import start as start_vault
from tests.fakes import in_memory_vault
from tests.fakes.card_vault import MemoryCardVault

VISA = "4242424242424242"
MASTERCARD = "5555555555554444"


@dataclass
class VaultUnderTest:
    vault: VaultForPayments
    merchant: Callable[[], Awaitable[str]]
    # (merchant_id, number, livemode) -> tok_... / pm_...
    token: Callable[[str, str, bool], Awaitable[str]]
    payment_method: Callable[[str, str, bool], Awaitable[str]]
    close: Callable[[], Awaitable[None]] | None = None


async def _memory() -> VaultUnderTest:
    vault = MemoryCardVault()
    ids = RandomIds()

    async def merchant() -> str:
        return ids.new("acct")

    async def token(merchant_id: str, number: str, livemode: bool) -> str:
        return vault.add_token(merchant_id, number, exp_month=7, exp_year=2031, livemode=livemode)

    async def payment_method(merchant_id: str, number: str, livemode: bool) -> str:
        return vault.add_payment_method(
            merchant_id, number, exp_month=7, exp_year=2031, livemode=livemode
        )

    return VaultUnderTest(vault, merchant, token, payment_method)


def _through(
    tokenizer: VaultApi,
    vault: VaultForPayments,
    close: Callable[[], Awaitable[None]] | None = None,
) -> VaultUnderTest:
    """`vault` under test, its cards tokenized and saved through `tokenizer`."""
    ids = RandomIds()

    async def merchant() -> str:
        return ids.new("acct")

    def principal(merchant_id: str, livemode: bool) -> Principal:
        return Principal(merchant_id, livemode, "key_contract", Role.OWNER)

    async def token(merchant_id: str, number: str, livemode: bool) -> str:
        card = CardInput(Secret(number), exp_month=7, exp_year=2031)
        return (await tokenizer.tokenize_card(principal(merchant_id, livemode), card)).id

    async def payment_method(merchant_id: str, number: str, livemode: bool) -> str:
        owner = principal(merchant_id, livemode)
        saved = await token(merchant_id, number, livemode)
        return (await tokenizer.create_payment_method_from_token(owner, saved)).id

    return VaultUnderTest(vault, merchant, token, payment_method, close)


async def _vault() -> VaultUnderTest:
    vault = in_memory_vault(SystemClock())
    return _through(vault, InProcessCardVault(vault))


SERVICE_TOKEN = "contract-service-token-0123456789abcdef"


async def _split() -> VaultUnderTest:
    clock = SystemClock()
    vault = in_memory_vault(clock)
    handoff = MemoryProfileHandoff(clock)
    server, _, port = await start_vault(vault, "127.0.0.1:0", tokens=[SERVICE_TOKEN])
    client = GrpcVault.connect(f"127.0.0.1:{port}", service_token=SERVICE_TOKEN, profiles=handoff)

    async def close() -> None:
        await client.aclose()
        await server.stop(None)

    # Tokenized as the vault role's token service does, handing the profiles over.
    return _through(ProfileHandingVault(vault, handoff), client, close)


HARNESSES: dict[str, Callable[[], Awaitable[VaultUnderTest]]] = {
    "fake": _memory,
    "vault": _vault,
    "split": _split,
}


@pytest.fixture(params=sorted(HARNESSES))
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[VaultUnderTest]:
    under_test = await HARNESSES[request.param]()
    try:
        yield under_test
    finally:
        if under_test.close is not None:
            await under_test.close()


async def test_a_token_gives_its_card_once(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    token = await subject.token(merchant, VISA, False)
    got = await subject.vault.card_for_payment(merchant, token, livemode=False, purpose="test")
    assert got.card.number.reveal() == VISA
    assert (got.card.exp_month, got.card.exp_year, got.card.brand) == (7, 2031, "visa")
    assert got.card.last4 == "4242"
    assert got.fingerprint and VISA not in got.fingerprint
    assert VISA not in repr(got)

    with pytest.raises(FailedPrecondition) as raised:
        await subject.vault.card_for_payment(merchant, token, livemode=False, purpose="test")
    assert raised.value.reason == "TOKEN_ALREADY_USED"


async def test_the_card_facts_the_risk_engine_reads(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    published = await subject.vault.card_for_payment(
        merchant, await subject.token(merchant, VISA, False), livemode=False, purpose="risk"
    )
    assert (published.bin, published.test_card) == ("424242", True)
    # Same BIN and last four as a published test card, but another number: not one.
    lookalike = "4242420000004242"
    other = await subject.vault.card_for_payment(
        merchant, await subject.token(merchant, lookalike, False), livemode=False, purpose="risk"
    )
    assert (other.bin, other.card.last4, other.test_card) == ("424242", "4242", False)


async def test_racing_uses_of_one_token_get_the_card_once(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    token = await subject.token(merchant, VISA, False)
    results = await asyncio.gather(
        *(
            subject.vault.card_for_payment(merchant, token, livemode=False, purpose="race")
            for _ in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(
        isinstance(r, FailedPrecondition) and r.reason == "TOKEN_ALREADY_USED"
        for r in results
        if isinstance(r, BaseException)
    )


async def test_a_payment_method_is_reusable(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    method = await subject.payment_method(merchant, MASTERCARD, False)
    first = await subject.vault.card_for_payment(merchant, method, livemode=False, purpose="1")
    second = await subject.vault.card_for_payment(merchant, method, livemode=False, purpose="2")
    assert first.card.number.reveal() == second.card.number.reveal() == MASTERCARD
    assert first.card.brand == "mastercard"
    assert first.fingerprint == second.fingerprint


async def test_fingerprints_are_per_card_and_per_merchant(subject: VaultUnderTest) -> None:
    merchant, other = await subject.merchant(), await subject.merchant()

    async def fingerprint(merchant_id: str, number: str) -> str:
        token = await subject.token(merchant_id, number, False)
        got = await subject.vault.card_for_payment(
            merchant_id, token, livemode=False, purpose="fingerprint"
        )
        return got.fingerprint

    same = await fingerprint(merchant, VISA)
    assert await fingerprint(merchant, VISA) == same
    assert await fingerprint(merchant, MASTERCARD) != same
    assert await fingerprint(other, VISA) != same


async def test_unknown_foreign_or_other_mode_is_not_found(subject: VaultUnderTest) -> None:
    merchant, other = await subject.merchant(), await subject.merchant()
    ids = RandomIds()
    theirs = await subject.token(other, VISA, False)
    live = await subject.token(merchant, VISA, True)
    saved = await subject.payment_method(other, VISA, False)
    for payment_method, livemode in (
        (ids.new("tok"), False),
        (ids.new("pm"), False),
        ("tok_not-even-an-id", False),
        (theirs, False),
        (saved, False),
        (live, False),
    ):
        with pytest.raises(NotFound) as raised:
            await subject.vault.card_for_payment(
                merchant, payment_method, livemode=livemode, purpose="probe"
            )
        assert raised.value.metadata["param"] == "payment_method"
    # Probing used nothing up.
    got = await subject.vault.card_for_payment(other, theirs, livemode=False, purpose="owner")
    assert got.card.last4 == "4242"


async def test_errors_never_show_the_number(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    token = await subject.token(merchant, VISA, False)
    await subject.vault.card_for_payment(merchant, token, livemode=False, purpose="once")
    errors: list[PaygateError] = []
    for payment_method in (token, VISA, f"tok_{VISA}"):
        try:
            await subject.vault.card_for_payment(
                merchant, payment_method, livemode=False, purpose="again"
            )
        except PaygateError as error:
            errors.append(error)
    assert len(errors) == 3
    for error in errors:
        assert VISA not in error.message
        assert VISA not in str(error.metadata)


# --- CardProfiles: what the application zone may know, nothing used up -----------------


async def test_a_profile_tells_the_first_six_and_uses_up_nothing(subject: VaultUnderTest) -> None:
    merchant = await subject.merchant()
    token = await subject.token(merchant, MASTERCARD, False)
    profile = await subject.vault.card_profile(merchant, token, livemode=False)
    assert (profile.brand, profile.iin, profile.last4) == ("mastercard", "555555", "4444")
    assert MASTERCARD not in repr(profile)
    again = await subject.vault.card_profile(merchant, token, livemode=False)
    got = await subject.vault.card_for_payment(merchant, token, livemode=False, purpose="after")
    assert again == profile and got.fingerprint == profile.fingerprint
    with pytest.raises(FailedPrecondition) as used:
        await subject.vault.card_profile(merchant, token, livemode=False)
    assert used.value.reason == "TOKEN_ALREADY_USED"


async def test_a_profile_of_a_card_the_merchant_cannot_use_is_not_found(
    subject: VaultUnderTest,
) -> None:
    merchant, other = await subject.merchant(), await subject.merchant()
    method = await subject.payment_method(merchant, VISA, False)
    assert (await subject.vault.card_profile(merchant, method, livemode=False)).iin == "424242"
    for who, what, live in (
        (other, method, False),
        (merchant, method, True),
        (merchant, "pm_x", False),
    ):
        with pytest.raises(NotFound) as missing:
            await subject.vault.card_profile(who, what, livemode=live)
        assert missing.value.metadata["param"] == "payment_method"
