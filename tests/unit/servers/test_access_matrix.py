"""The access matrix, derived from the protos: every public RPC, every role, every kind
of credential, and every RPC that takes an id called with another merchant's object.

Nothing here lists RPCs by hand: a new RPC is called by these tests as soon as it is in
SERVICES. One without a (paygate.v1.access) option is closed to everyone, and fails the
first test; one that takes an id needs an entry in OTHER_MERCHANTS_OBJECTS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from paygate.v1 import api_keys_pb2, options_pb2

from core.access.model import KeyType
from core.access.roles import ROLE_PERMISSIONS, Role
from core.events.use_cases import EndpointSettings
from core.ledger.payouts import CreatePayout
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.refunds import CreateRefund
from core.payments.use_cases import CreatePaymentIntent
from core.shared.secret import Secret
from core.vault.cards import CardInput
from servers.bootstrap.app import App
from tests.unit.servers.access_helpers import (
    GENEROUS,
    PASSWORD,
    Metadata,
    bearer,
    call,
    member_of,
    owner_of,
    public_methods,
    serving,
    user_token,
)

METHODS = public_methods()
DENIALS = {"MISSING_PERMISSION", "USER_SESSION_REQUIRED", "PUBLISHABLE_KEY_NOT_ALLOWED"}


def access_of(method: MethodDescriptor) -> options_pb2.Access:
    return method.GetOptions().Extensions[options_pb2.access]


@dataclass
class World:
    app: App
    channel: grpc.aio.Channel
    # Merchant A's credentials: ("key" | "user", role) -> metadata; plus "publishable".
    a: dict[tuple[str, Role | None], Metadata] = field(default_factory=dict)
    # Ids and secrets of merchant B's objects.
    b: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with serving(GENEROUS) as served:
        app = served.app
        w = World(app, served.channel)
        owner_a = await app.auth.signup("owner@a.example", Secret(PASSWORD), "A")
        account = owner_a.merchant.id
        for role in Role:
            key = await app.api_keys.create(owner_of(owner_a), KeyType.SECRET, role)
            w.a[("key", role)] = bearer(key.plaintext)
            email = "owner@a.example"
            if role is not Role.OWNER:
                email = f"{role.value.lower()}@a.example"
                await member_of(app, owner_a, email, role)
            w.a[("user", role)] = bearer(await user_token(app, email), account)
        pk = await app.api_keys.create(owner_of(owner_a), KeyType.PUBLISHABLE, None)
        w.a[("publishable", None)] = bearer(pk.plaintext)

        owner_b = await app.auth.signup("owner@b.example", Secret(PASSWORD), "B")
        b = owner_of(owner_b)
        intent = await app.payment_intents.create(
            b, CreatePaymentIntent(amount=100, currency="EUR")
        )
        key_b = await app.api_keys.create(b, KeyType.SECRET, Role.STAFF)
        staff_b = await member_of(app, owner_b, "staff@b.example", Role.STAFF)
        invitation_b = await app.members.invite(b, "newcomer@b.example", Role.STAFF)
        assert app.vault is not None
        card = CardInput(Secret("4242424242424242"), exp_month=12, exp_year=2040)
        token_b = await app.vault.tokenize_card(b, card)
        saved_card = await app.vault.tokenize_card(b, card)
        method_b = await app.vault.create_payment_method_from_token(b, saved_card.id)
        paid = await app.payment_intents.create(
            b, CreatePaymentIntent(amount=500_000, currency="EUR")
        )
        paying_card = await app.vault.tokenize_card(b, card)
        await app.payments.confirm(b, paid.id, ConfirmPaymentIntent(paying_card.id))
        refund_b = await app.refunds.create(b, CreateRefund(paid.id, amount=100))
        # The money side of B: a disputed charge, a settlement, a payout.
        disputed = await app.payment_intents.create(
            b, CreatePaymentIntent(amount=900, currency="EUR")
        )
        disputed_card = CardInput(Secret("4000000000000259"), exp_month=12, exp_year=2040)
        disputed_token = await app.vault.tokenize_card(b, disputed_card)
        await app.payments.confirm(b, disputed.id, ConfirmPaymentIntent(disputed_token.id))
        (dispute_b,) = (await app.disputes.ingest(app.dispute_feed)).opened
        settle_day = (datetime.now(UTC) + timedelta(days=3)).date()
        (settlement_b,) = await app.settlement_batch.run_settlement(
            settle_day, datetime.combine(settle_day, time(1), UTC)
        )
        payout_b = await app.payouts.create(b, CreatePayout(amount=1, currency="EUR"))
        endpoint_b = await app.webhook_endpoints.create(
            b, EndpointSettings(url="http://127.0.0.1:9/hooks", enabled_events=("*",))
        )
        refund_after = await app.refunds.create(b, CreateRefund(paid.id, amount=100))
        (delivery_b, *_) = (
            await app.webhook_endpoints.deliveries(b, endpoint_id=endpoint_b.endpoint.id)
        ).data
        assert delivery_b.delivery.event_id and refund_after.id
        w.b = {
            "intent": intent.id,
            "client_secret": intent.client_secret,
            "key": key_b.key.id,
            "key_secret": key_b.plaintext,
            "member": staff_b.user.id,
            "invitation": invitation_b.token,
            "invitation_id": invitation_b.invitation.id,
            "account": owner_b.merchant.id,
            "token": token_b.id,
            "payment_method": method_b.id,
            "refund": refund_b.id,
            "dispute": dispute_b.id,
            "settlement": settlement_b.id,
            "payout": payout_b.id,
            "event": delivery_b.delivery.event_id,
            "webhook_endpoint": endpoint_b.endpoint.id,
            "delivery": delivery_b.delivery.id,
        }
        yield w


# --- every RPC declares its access, and each role gets exactly that -----------------------


def test_every_served_rpc_declares_its_access() -> None:
    assert METHODS
    missing = [path for path, m in METHODS if not m.GetOptions().HasExtension(options_pb2.access)]
    assert missing == []


def expected_allowed(access: options_pb2.Access, kind: str, role: Role | None) -> bool:
    """The documented policy (docs/access.md), restated from the protos and roles.py."""
    if access.unauthenticated:
        return True
    if access.user_only:
        return kind == "user"
    if kind == "publishable":
        return access.publishable
    assert role is not None
    return access.permission in ROLE_PERMISSIONS[role]


CREDENTIALS = [("key", r) for r in Role] + [("user", r) for r in Role] + [("publishable", None)]


@pytest.mark.parametrize(("path", "method"), METHODS, ids=[p for p, _ in METHODS])
async def test_each_credential_is_allowed_or_denied_as_documented(
    world: World, path: str, method: MethodDescriptor
) -> None:
    access = access_of(method)
    wrong = []
    for kind, role in CREDENTIALS:
        code, reason = await call(world.channel, method, world.a[(kind, role)])
        denied = code == grpc.StatusCode.PERMISSION_DENIED and reason in DENIALS
        assert code != grpc.StatusCode.UNAUTHENTICATED, (kind, role, reason)
        if denied == expected_allowed(access, kind, role):
            wrong.append(f"{kind} {role}: {code.name} {reason}")
    assert wrong == [], f"{path} ({access})"


@pytest.mark.parametrize(("path", "method"), METHODS, ids=[p for p, _ in METHODS])
async def test_no_credential_is_unauthenticated_unless_the_method_is_open(
    world: World, path: str, method: MethodDescriptor
) -> None:
    code, _ = await call(world.channel, method, ())
    assert (code == grpc.StatusCode.UNAUTHENTICATED) != access_of(method).unauthenticated


# --- tenant isolation: A's credentials on B's objects ----------------------------------

# (service, request field) -> which of B's objects to put there. Every id-like field of
# every request must be covered.
OTHER_MERCHANTS_OBJECTS = {
    ("paygate.v1.PaymentIntentService", "id"): "intent",
    ("paygate.v1.ApiKeyService", "id"): "key",
    ("paygate.v1.MemberService", "user_id"): "member",
    ("paygate.v1.MemberService", "token"): "invitation",
    ("paygate.v1.MemberService", "id"): "invitation_id",
    ("paygate.v1.PaymentMethodService", "id"): "payment_method",
    ("paygate.v1.PaymentMethodService", "token"): "token",
    ("paygate.v1.PaymentIntentService", "payment_method"): "token",
    ("paygate.v1.RefundService", "id"): "refund",
    ("paygate.v1.RefundService", "payment_intent"): "intent",
    ("paygate.v1.PayoutService", "id"): "payout",
    ("paygate.v1.SettlementService", "id"): "settlement",
    ("paygate.v1.DisputeService", "id"): "dispute",
    ("paygate.v1.EventService", "id"): "event",
    ("paygate.v1.WebhookEndpointService", "id"): "webhook_endpoint",
}
# Methods whose `id` names another kind of object than their service's usual one.
METHOD_OBJECTS = {("RetryWebhookDelivery", "id"): "delivery"}
# Other fields a request needs so that it reaches the lookup instead of failing validation.
VALID_EXTRAS = {
    "UpdateMemberRole": {"role": api_keys_pb2.STAFF},
    "GetPaymentIntent": {"client_secret": "B's"},
    "ConfirmPaymentIntent": {"client_secret": "B's"},
    "SubmitDisputeEvidence": {"evidence": {"receipt": "B's receipt"}},
    "ReplayWebhookDeliveries": {"since": {"seconds": 1}},
}
ID_FIELD_NAMES = {"id", "token", "payment_method"}


def id_fields(method: MethodDescriptor) -> list[str]:
    return [
        f.name
        for f in method.input_type.fields
        if f.name in ID_FIELD_NAMES or f.name.endswith("_id") or f.name == "payment_intent"
    ]


ID_METHODS = [(p, m) for p, m in METHODS if id_fields(m) and not access_of(m).unauthenticated]


def test_every_id_field_has_an_object_of_another_merchant() -> None:
    uncovered = [
        f"{m.containing_service.full_name}.{m.name}({name})"
        for _, m in ID_METHODS
        for name in id_fields(m)
        if (m.containing_service.full_name, name) not in OTHER_MERCHANTS_OBJECTS
    ]
    assert uncovered == []
    assert len(ID_METHODS) >= 6


@pytest.mark.parametrize(("path", "method"), ID_METHODS, ids=[p for p, _ in ID_METHODS])
async def test_another_merchants_object_is_not_found(
    world: World, path: str, method: MethodDescriptor
) -> None:
    service = method.containing_service.full_name
    fields = {
        name: world.b[
            METHOD_OBJECTS.get((method.name, name)) or OTHER_MERCHANTS_OBJECTS[(service, name)]
        ]
        for name in id_fields(method)
    }
    extras = dict(VALID_EXTRAS.get(method.name, {}))
    if "client_secret" in extras:
        extras["client_secret"] = world.b["client_secret"]
    credentials = [world.a[("key", Role.OWNER)], world.a[("user", Role.OWNER)]]
    if access_of(method).publishable:
        credentials.append(world.a[("publishable", None)])
    for metadata in credentials:
        code, reason = await call(world.channel, method, metadata, **fields, **extras)
        if access_of(method).user_only and metadata is world.a[("key", Role.OWNER)]:
            assert reason == "USER_SESSION_REQUIRED"
            continue
        assert code == grpc.StatusCode.NOT_FOUND, (path, metadata[0][1][:20], code, reason)


async def test_b_is_untouched_and_a_cannot_act_in_bs_account(world: World) -> None:
    principal = await world.app.api_keys.authenticate(world.b["key_secret"])
    assert principal.merchant_id == world.b["account"]
    page = await world.app.members.list(
        principal.__class__(world.b["account"], False, "t", Role.OWNER)
    )
    assert world.b["member"] in {m.user_id for m in page.data}

    list_intents = next(m for p, m in METHODS if m.name == "ListPaymentIntents")
    user_a = dict(world.a[("user", Role.OWNER)])
    as_b = bearer(user_a["authorization"].removeprefix("Bearer "), world.b["account"])
    assert await call(world.channel, list_intents, as_b) == (
        grpc.StatusCode.PERMISSION_DENIED, "NOT_A_MEMBER",
    )  # fmt: skip
    key_a = dict(world.a[("key", Role.OWNER)])["authorization"].removeprefix("Bearer ")
    assert await call(world.channel, list_intents, bearer(key_a, world.b["account"])) == (
        grpc.StatusCode.PERMISSION_DENIED, "ACCOUNT_MISMATCH",
    )  # fmt: skip
