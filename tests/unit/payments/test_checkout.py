"""The hosted checkout's session (core/payments/checkout.py) and the intent's checkout
fields, over the payments world's fakes."""

from __future__ import annotations

import string
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.access.model import KeyType, Principal
from core.access.roles import Role
from core.access.use_cases import ApiKeys
from core.payments.checkout import HostedCheckout, checkout_url, is_web_url
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import InvalidArgument
from tests.fakes import SequentialIds
from tests.unit.payments.conftest import World


async def shop(world: World, name: str = "Corner Shop") -> tuple[Principal, str]:
    """A merchant with a secret and a publishable key; (its secret-key principal, pk)."""
    keys = ApiKeys(world.uow, SequentialIds(world.clock), world.clock)
    seeded = await keys.seed_merchant(name)
    owner = Principal(seeded.merchant.id, False, "key_owner", Role.OWNER)
    return owner, seeded.publishable_key.plaintext


async def test_the_session_names_the_merchant_and_carries_its_publishable_key(
    world: World,
) -> None:
    owner, pk = await shop(world)
    intent = await world.intents.create(
        owner,
        CreatePaymentIntent(
            amount=2500,
            currency="eur",
            success_url="https://shop.example/thanks?order=7",
            cancel_url="https://shop.example/cart",
            return_url="https://shop.example/back",
        ),
    )
    session = await HostedCheckout(world.uow, world.clock).open(intent.id, intent.client_secret)
    assert session is not None
    assert session.merchant_name == "Corner Shop"
    assert session.publishable_key == pk
    assert session.success_url == "https://shop.example/thanks?order=7"
    assert session.cancel_url == "https://shop.example/cart"
    assert session.return_url == "https://shop.example/back"
    assert not session.livemode


@pytest.mark.parametrize(
    "intent_id, secret",
    [("right", "wrong"), ("right", ""), ("pi_01nosuchintent", "right"), ("pa_1", "right")],
)
async def test_a_wrong_id_or_client_secret_opens_nothing(
    world: World, intent_id: str, secret: str
) -> None:
    owner, _ = await shop(world)
    intent = await world.intents.create(owner, CreatePaymentIntent(amount=100, currency="usd"))
    intent_id = intent.id if intent_id == "right" else intent_id
    secret = intent.client_secret if secret == "right" else secret
    assert await HostedCheckout(world.uow, world.clock).open(intent_id, secret) is None


async def test_the_newest_usable_publishable_key_is_chosen(world: World) -> None:
    owner, first_pk = await shop(world)
    keys = ApiKeys(world.uow, SequentialIds(world.clock), world.clock)
    world.clock.advance(seconds=1)
    newer = await keys.create(owner, KeyType.PUBLISHABLE, None)
    intent = await world.intents.create(owner, CreatePaymentIntent(amount=100, currency="usd"))
    checkout = HostedCheckout(world.uow, world.clock)

    session = await checkout.open(intent.id, intent.client_secret)
    assert session is not None and session.publishable_key == newer.plaintext
    await keys.revoke(owner, newer.key.id)
    session = await checkout.open(intent.id, intent.client_secret)
    assert session is not None and session.publishable_key == first_pk


async def test_without_a_publishable_key_the_session_says_so(world: World) -> None:
    owner, _ = await shop(world)
    keys = ApiKeys(world.uow, SequentialIds(world.clock), world.clock)
    async with world.uow() as uow:
        listed = await uow.api_keys.list(owner.merchant_id, limit=10)
    for key in listed:
        if key.type is KeyType.PUBLISHABLE:
            await keys.revoke(owner, key.id)
    intent = await world.intents.create(owner, CreatePaymentIntent(amount=100, currency="usd"))
    session = await HostedCheckout(world.uow, world.clock).open(intent.id, intent.client_secret)
    assert session is not None and session.publishable_key == ""


async def test_only_publishable_keys_are_kept_in_clear(world: World) -> None:
    owner, pk = await shop(world)
    async with world.uow() as uow:
        listed = await uow.api_keys.list(owner.merchant_id, limit=10)
    assert {k.type: k.publishable_key for k in listed} == {
        KeyType.SECRET: "",
        KeyType.PUBLISHABLE: pk,
    }


@pytest.mark.parametrize("field", ["success_url", "cancel_url"])
@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "/relative", "https://", "ftp://x.example"]
)
async def test_success_and_cancel_urls_must_be_web_urls(world: World, field: str, url: str) -> None:
    owner, _ = await shop(world)
    command = CreatePaymentIntent(amount=100, currency="usd", **{field: url})  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as raised:
        await world.intents.create(owner, command)
    assert [v.field for v in raised.value.violations] == [field]


async def test_an_overlong_success_url_is_refused(world: World) -> None:
    owner, _ = await shop(world)
    url = "https://shop.example/" + "a" * 2000
    with pytest.raises(InvalidArgument) as raised:
        await world.intents.create(
            owner, CreatePaymentIntent(amount=100, currency="usd", success_url=url)
        )
    assert [v.field for v in raised.value.violations] == ["success_url"]


async def test_the_checkout_url_carries_the_client_secret(world: World) -> None:
    owner, _ = await shop(world)
    intent = await world.intents.create(owner, CreatePaymentIntent(amount=100, currency="usd"))
    url = checkout_url("https://pay.example.test/", intent)
    assert url == (
        f"https://pay.example.test/checkout/{intent.id}?client_secret={intent.client_secret}"
    )


def _quoted(base_url: str, intent_id: str, secret: str) -> str:
    """The URL built with quote() and urlencode() every time, as it was."""
    query = urlencode({"client_secret": secret})
    return f"{base_url.rstrip('/')}/checkout/{quote(intent_id, safe='')}?{query}"


_UNRESERVED = string.ascii_letters + string.digits + "_.~-"


@settings(max_examples=400)
@given(
    st.one_of(st.text(), st.text(alphabet=_UNRESERVED)),
    st.one_of(st.text(), st.text(alphabet=_UNRESERVED)),
)
def test_the_checkout_url_is_what_quoting_makes_of_any_id_and_secret(
    intent_id: str, secret: str
) -> None:
    intent = SimpleNamespace(id=intent_id, client_secret=secret)
    for base in ("https://pay.example.test/", "http://127.0.0.1:8080"):
        url = checkout_url(base, intent)  # type: ignore[arg-type]
        assert url == _quoted(base, intent_id, secret)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://shop.example/x?y=1", True),
        ("http://127.0.0.1:4242/", True),
        (" https://shop.example ", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("//shop.example", False),
        ("", False),
        ("http://[::1", False),
    ],
)
def test_is_web_url(url: str, ok: bool) -> None:
    assert is_web_url(url) is ok
