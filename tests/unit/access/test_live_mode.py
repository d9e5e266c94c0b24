"""Live mode and test mode: a session says per call which data it acts on (Paygate-Mode),
an API key's mode is its own, and neither sees the other mode's intents or keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.access.authentication import Auth
from core.access.gate import AccessGate, Credentials, Requirement
from core.access.model import KeyType, Principal
from core.access.rate_limits import RateLimits
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from core.payments.use_cases import CreatePaymentIntent, PaymentIntents
from core.shared.errors import InvalidArgument, NotFound, PermissionDenied
from core.shared.secret import Secret
from tests.fakes import FixedClock, SequentialIds, cheap_hasher, token_codec
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.unit.access.test_gate_and_rate_limits import CountingLimiter

READ = Requirement(permission="payments:read")


@dataclass
class World:
    gate: AccessGate
    keys: ApiKeys
    intents: PaymentIntents
    access_token: str
    account: str


@pytest.fixture
async def world() -> World:
    clock, uow = FixedClock(), MemoryUnitOfWorkFactory()
    ids = SequentialIds(clock)
    auth = Auth(uow, ids, clock, cheap_hasher(), token_codec(clock))
    owner = await auth.signup("owner@example.com", Secret("a long enough secret"), "Owner Ltd")
    session = await auth.login("owner@example.com", Secret("a long enough secret"))
    keys = ApiKeys(uow, ids, clock)
    gate = AccessGate(keys, auth, RateLimits(CountingLimiter(), uow, clock))
    return World(
        gate,
        keys,
        PaymentIntents(uow, ids, clock),
        session.access_token.reveal(),
        owner.merchant.id,
    )


async def session(world: World, mode: str) -> Principal:
    credentials = Credentials(f"{world.access_token}", world.account, "127.0.0.1", mode)
    principal = await world.gate.admit(READ, credentials)
    assert principal is not None
    return principal


async def test_a_session_acts_in_the_mode_each_call_names(world: World) -> None:
    assert (await session(world, "")).livemode is False  # test mode unless asked
    assert (await session(world, "test")).livemode is False
    assert (await session(world, "live")).livemode is True
    with pytest.raises(InvalidArgument) as bad:
        await session(world, "production")
    assert bad.value.violations[0].field == "paygate-mode"


async def test_keys_are_made_per_mode_and_keep_to_it(world: World) -> None:
    live, test = await session(world, "live"), await session(world, "test")
    live_key = await world.keys.create(live, KeyType.SECRET, Role.DEVELOPER)
    test_key = await world.keys.create(test, KeyType.SECRET, Role.DEVELOPER)
    assert live_key.plaintext.startswith("sk_live_") and live_key.key.livemode
    assert test_key.plaintext.startswith("sk_test_") and not test_key.key.livemode

    assert [k.id for k in (await world.keys.list(live)).data] == [live_key.key.id]
    assert [k.id for k in (await world.keys.list(test)).data] == [test_key.key.id]
    with pytest.raises(NotFound):  # a test-mode session cannot revoke a live key
        await world.keys.revoke(test, live_key.key.id)

    # A key's mode is its own: a header cannot turn a test key into a live one.
    for plaintext, mode in ((test_key.plaintext, "live"), (live_key.plaintext, "test")):
        with pytest.raises(PermissionDenied) as mismatch:
            await world.gate.admit(READ, Credentials(plaintext, "", "127.0.0.1", mode))
        assert mismatch.value.reason == "MODE_MISMATCH"
    as_live_key = await world.gate.admit(READ, Credentials(live_key.plaintext, "", "", "live"))
    assert as_live_key is not None and as_live_key.livemode


async def test_intents_of_one_mode_do_not_exist_in_the_other(world: World) -> None:
    live, test = await session(world, "live"), await session(world, "test")
    in_test = await world.intents.create(test, CreatePaymentIntent(amount=1500, currency="usd"))
    in_live = await world.intents.create(live, CreatePaymentIntent(amount=9900, currency="usd"))
    assert (in_test.livemode, in_live.livemode) == (False, True)

    assert [i.id for i in (await world.intents.list(test)).data] == [in_test.id]
    assert [i.id for i in (await world.intents.list(live)).data] == [in_live.id]
    assert (await world.intents.get(live, in_live.id)).amount == 9900
    with pytest.raises(NotFound):
        await world.intents.get(live, in_test.id)
    with pytest.raises(NotFound):
        await world.intents.get(test, in_live.id)
