"""The business profile on the fakes: strict checks naming the field, the update mask,
the audit record, the settings applied to new intents, the onboarding checklist."""

from __future__ import annotations

import base64

import pytest

from core.access.audit import Action
from core.access.model import KeyType, Principal
from core.access.roles import Role
from core.account.profile import MAX_LOGO_BYTES, ProfileUpdate
from core.events.use_cases import EndpointSettings
from core.payments.model import CaptureMethod
from core.payments.use_cases import CreatePaymentIntent
from core.shared.errors import InvalidArgument
from core.shared.secret import Secret
from servers.bootstrap.app import App
from tests.fakes import in_memory_app
from tests.fakes.unit_of_work import MemoryUnitOfWorkFactory
from tests.payment_history import APPROVED, pay

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def data_url(kind: str, image: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(image).decode()}"


@pytest.fixture
def uow() -> MemoryUnitOfWorkFactory:
    return MemoryUnitOfWorkFactory()


@pytest.fixture
def app(uow: MemoryUnitOfWorkFactory) -> App:
    return in_memory_app(uow)


@pytest.fixture
async def merchant(app: App) -> Principal:
    seeded = await app.api_keys.seed_merchant("Acme Coffee")
    return Principal(seeded.merchant.id, False, seeded.secret_key.key.id, Role.ADMIN)


def update(**values: object) -> ProfileUpdate:
    return ProfileUpdate(values=values)


async def test_a_new_account_has_its_name_and_the_defaults(app: App, merchant: Principal) -> None:
    profile = await app.business_profiles.get(merchant)
    assert profile.business_name == "Acme Coffee"
    assert profile.default_capture_method is CaptureMethod.AUTOMATIC
    assert profile.accepted_currencies == () and profile.updated is None


async def test_an_update_normalizes_saves_and_is_audited(
    app: App, merchant: Principal, uow: MemoryUnitOfWorkFactory
) -> None:
    profile = await app.business_profiles.update(
        merchant,
        update(
            business_name="  Acme Coffee Roasters ",
            statement_descriptor="acme coffee",
            support_email="help@acme.example",
            support_url="https://acme.example/help",
            country="de",
            accepted_currencies=("eur", "usd", "EUR"),
            default_capture_method=CaptureMethod.MANUAL,
            branding_color="#A1B2C3",
            logo_url=data_url("png", PNG),
        ),
    )
    assert profile.business_name == "Acme Coffee Roasters"
    assert profile.statement_descriptor == "ACME COFFEE"
    assert (profile.country, profile.accepted_currencies) == ("DE", ("EUR", "USD"))
    assert profile.branding_color == "#a1b2c3" and profile.updated is not None
    assert await app.business_profiles.get(merchant) == profile
    (event,) = [e for e in uow.store.tables.audit_events if e.action is Action.PROFILE_UPDATE]
    assert event.actor == merchant.actor and event.target == merchant.merchant_id
    assert event.details["fields"].split(",")[0] == "business_name"


async def test_an_update_without_a_mask_leaves_empty_fields_alone_and_a_mask_clears(
    app: App, merchant: Principal
) -> None:
    await app.business_profiles.update(
        merchant, update(support_email="a@acme.example", country="FR")
    )
    kept = await app.business_profiles.update(merchant, update(country="IT"))
    assert (kept.support_email, kept.country) == ("a@acme.example", "IT")
    cleared = await app.business_profiles.update(
        merchant, ProfileUpdate(values={"country": "ES"}, fields=("support_email", "country"))
    )
    assert (cleared.support_email, cleared.country) == ("", "ES")


async def test_nothing_changed_writes_nothing(
    app: App, merchant: Principal, uow: MemoryUnitOfWorkFactory
) -> None:
    await app.business_profiles.update(merchant, update())
    assert not [e for e in uow.store.tables.audit_events if e.action is Action.PROFILE_UPDATE]


BAD = [
    ("business_name", "x" * 101),
    ("statement_descriptor", "abc"),  # too short
    ("statement_descriptor", "12345678"),  # no letter
    ("statement_descriptor", "ACME <COFFEE>"),
    ("support_email", "not an email"),
    ("support_url", "http://acme.example/help"),  # http off loopback
    ("support_url", "javascript:alert(1)"),
    ("support_url", "https://user:pw@acme.example/"),
    ("support_url", "ftp://acme.example/"),
    ("country", "DEU"),
    ("branding_color", "red"),
    ("branding_color", "#12345"),
    ("logo_url", "http://cdn.example/logo.png"),
    ("logo_url", "data:text/html;base64,PGgxPmhpPC9oMT4="),
    ("logo_url", "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4="),  # SVG can carry script
    ("logo_url", data_url("png", b"GIF89a" + b"\x00" * 10)),  # bytes are not a PNG
    ("logo_url", data_url("png", PNG + b"\x00" * MAX_LOGO_BYTES)),  # too large
    ("logo_url", "data:image/png;base64,!!!!"),
    ("business_name", "Pay 4242 4242 4242 4242"),  # a card number
    ("business_name", "Acme\x00Coffee"),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v[:30]!r}" for f, v in BAD])
async def test_a_bad_field_is_invalid_argument_naming_it_and_nothing_changes(
    app: App, merchant: Principal, field: str, value: str
) -> None:
    before = await app.business_profiles.get(merchant)
    with pytest.raises(InvalidArgument) as raised:
        await app.business_profiles.update(
            merchant, update(**{"support_email": "ok@acme.example", field: value})
        )
    assert raised.value.metadata["param"] == f"profile.{field}"
    assert "4242 4242" not in raised.value.message
    assert await app.business_profiles.get(merchant) == before


async def test_every_bad_field_is_named_at_once_and_unknown_mask_names_refused(
    app: App, merchant: Principal
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        await app.business_profiles.update(
            merchant,
            ProfileUpdate(
                values={"country": "X", "accepted_currencies": ("ZZZ",)},
                fields=("country", "accepted_currencies", "secret_key"),
            ),
        )
    named = [v.field for v in raised.value.violations]
    assert named == ["update_mask[2]", "profile.country", "profile.accepted_currencies"]


@pytest.mark.parametrize(
    "url",
    ["https://cdn.acme.example/logo.png", "http://127.0.0.1:8080/logo.png", "http://localhost/l.png",
     "http://[::1]/logo.png", data_url("jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 8),
     data_url("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ")],
)  # fmt: skip
async def test_good_logos_are_accepted(app: App, merchant: Principal, url: str) -> None:
    assert (await app.business_profiles.update(merchant, update(logo_url=url))).logo_url == url


async def test_new_intents_take_the_default_capture_method_and_only_accepted_currencies(
    app: App, merchant: Principal
) -> None:
    await app.business_profiles.update(
        merchant,
        update(accepted_currencies=("EUR",), default_capture_method=CaptureMethod.MANUAL),
    )
    intent = await app.payment_intents.create(merchant, CreatePaymentIntent(500, "eur"))
    assert intent.capture_method is CaptureMethod.MANUAL
    explicit = await app.payment_intents.create(
        merchant, CreatePaymentIntent(500, "EUR", capture_method=CaptureMethod.AUTOMATIC)
    )
    assert explicit.capture_method is CaptureMethod.AUTOMATIC
    with pytest.raises(InvalidArgument) as raised:
        await app.payment_intents.create(merchant, CreatePaymentIntent(500, "usd"))
    assert raised.value.reason == "CURRENCY_NOT_ACCEPTED"
    assert raised.value.metadata["param"] == "currency"
    assert "EUR" in raised.value.message


async def test_the_checklist_follows_the_account(app: App) -> None:
    signed = await app.auth.signup("owner@acme.example", Secret("a long enough secret"), "Acme")
    owner = Principal(signed.merchant.id, False, signed.user.id, Role.OWNER, user_id=signed.user.id)
    start = await app.business_profiles.checklist(owner)
    assert not start.complete and not start.api_key_created
    assert start.missing_profile_fields == ("statement_descriptor", "support_email", "country")
    await app.business_profiles.update(
        owner,
        update(statement_descriptor="ACME SHOP", support_email="a@acme.example", country="DE"),
    )
    await app.api_keys.create(owner, KeyType.SECRET, Role.ADMIN)
    await app.webhook_endpoints.create(
        owner, EndpointSettings(url="http://127.0.0.1:9/hooks", enabled_events=("*",))
    )
    before_payment = await app.business_profiles.checklist(owner)
    assert before_payment.profile_complete and before_payment.api_key_created
    assert before_payment.webhook_endpoint_set and not before_payment.test_payment_made
    await pay(app, owner, 1_000, APPROVED)
    assert (await app.business_profiles.checklist(owner)).complete
