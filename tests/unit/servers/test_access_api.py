"""Access over gRPC: sessions, forged tokens, lockout, per-address and per-merchant rate
limits with retry-after, members and key rolling, as a client sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from paygate.v1 import (
    api_keys_pb2,
    api_keys_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    members_pb2,
    members_pb2_grpc,
    payment_intents_pb2,
    payment_intents_pb2_grpc,
)

from core.access.rate_limits import DEFAULT_LIMITS
from servers.bootstrap.app import App
from servers.grpc.client_address import client_address, parse_networks, peer_address
from tests.unit.servers.access_helpers import (
    PASSWORD,
    Served,
    bearer,
    error_info,
    serving,
)


@dataclass
class Api:
    app: App
    served: Served
    auth: auth_pb2_grpc.AuthServiceStub
    members: members_pb2_grpc.MemberServiceStub
    keys: api_keys_pb2_grpc.ApiKeyServiceStub
    intents: payment_intents_pb2_grpc.PaymentIntentServiceStub

    async def signup(self, email: str, name: str = "Shop") -> auth_pb2.SignupResponse:
        return await self.auth.Signup(
            auth_pb2.SignupRequest(email=email, password=PASSWORD, business_name=name)
        )

    async def login(self, email: str, password: str = PASSWORD, ip: str = "") -> auth_pb2.Session:
        metadata = (("x-forwarded-for", f"203.0.113.7, {ip}"),) if ip else ()
        return await self.auth.Login(
            auth_pb2.LoginRequest(email=email, password=password), metadata=metadata
        )


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serving() as served:
        app, channel = served.app, served.channel
        yield Api(
            app,
            served,
            auth_pb2_grpc.AuthServiceStub(channel),
            members_pb2_grpc.MemberServiceStub(channel),
            api_keys_pb2_grpc.ApiKeyServiceStub(channel),
            payment_intents_pb2_grpc.PaymentIntentServiceStub(channel),
        )


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


def trailers(error: grpc.aio.AioRpcError) -> dict[str, str]:
    return {k: v for k, v in error.trailing_metadata() or () if isinstance(v, str)}


# --- sessions ---------------------------------------------------------------------------


async def test_signup_login_and_act_in_the_account_with_an_access_token(api: Api) -> None:
    signed = await api.signup("ann@example.com", "Ann's Bakery")
    session = await api.login("ANN@example.com")
    assert (session.token_type, session.expires_in) == ("Bearer", 86400)
    assert session.refresh_token_expires_in == 7 * 86400
    assert [(a.account.id, a.role) for a in session.accounts] == [
        (signed.account.id, api_keys_pb2.OWNER)
    ]
    as_ann = bearer(session.access_token, signed.account.id)
    created = await api.intents.CreatePaymentIntent(
        payment_intents_pb2.CreatePaymentIntentRequest(amount=100, currency="usd"), metadata=as_ann
    )
    listed = await api.intents.ListPaymentIntents(
        payment_intents_pb2.ListPaymentIntentsRequest(), metadata=as_ann
    )
    assert [i.id for i in listed.data] == [created.id]

    missing = await refused(
        api.intents.ListPaymentIntents(
            payment_intents_pb2.ListPaymentIntentsRequest(), metadata=bearer(session.access_token)
        )
    )
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(missing).metadata["param"] == "paygate-account"


async def test_refresh_rotates_reuse_ends_the_session_and_logout_works(api: Api) -> None:
    signed = await api.signup("bo@example.com")
    first = await api.login("bo@example.com")
    second = await api.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    reuse = await refused(
        api.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    )
    assert (reuse.code(), error_info(reuse).reason) == (
        grpc.StatusCode.UNAUTHENTICATED, "INVALID_REFRESH_TOKEN",
    )  # fmt: skip
    ended = await refused(
        api.members.ListMembers(
            members_pb2.ListMembersRequest(),
            metadata=bearer(second.access_token, signed.account.id),
        )
    )
    assert error_info(ended).reason == "INVALID_ACCESS_TOKEN"

    third = await api.login("bo@example.com")
    await api.auth.Logout(auth_pb2.LogoutRequest(refresh_token=third.refresh_token))
    await api.auth.Logout(auth_pb2.LogoutRequest(refresh_token="rt_unknown"))
    after = await refused(
        api.members.ListMembers(
            members_pb2.ListMembersRequest(), metadata=bearer(third.access_token, signed.account.id)
        )
    )
    assert after.code() == grpc.StatusCode.UNAUTHENTICATED


def _forgeries(token: str) -> dict[str, str]:
    header, body, _ = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    kid = jwt.get_unverified_header(token)["kid"]
    other = Ed25519PrivateKey.generate()
    head = {"kid": kid, "typ": "at+jwt"}
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"at+jwt"}').decode()
    return {
        "forged": jwt.encode(claims, other, algorithm="EdDSA", headers=head),
        "expired": jwt.encode({**claims, "exp": claims["iat"] - 1}, other, "EdDSA", headers=head),
        "wrong-audience": jwt.encode({**claims, "aud": "x"}, other, "EdDSA", headers=head),
        "alg-none": f"{none_header}.{body}.",
        "truncated": f"{header}.{body}",
    }


async def test_forged_expired_wrong_audience_and_alg_none_tokens_are_unauthenticated(
    api: Api,
) -> None:
    signed = await api.signup("cy@example.com")
    session = await api.login("cy@example.com")
    for name, token in _forgeries(session.access_token).items():
        error = await refused(
            api.intents.ListPaymentIntents(
                payment_intents_pb2.ListPaymentIntentsRequest(),
                metadata=bearer(token, signed.account.id),
            )
        )
        assert (error.code(), error_info(error).reason) == (
            grpc.StatusCode.UNAUTHENTICATED, "INVALID_ACCESS_TOKEN",
        ), name  # fmt: skip
        assert token not in (error.details() or "")


# --- lockout and per-address limits -----------------------------------------------------


async def test_five_failures_lock_the_account_whatever_the_address(api: Api) -> None:
    await api.signup("dee@example.com")
    for attempt in range(5):
        error = await refused(
            api.login("dee@example.com", "wrong password!!", ip=f"10.0.0.{attempt}")
        )
        assert error_info(error).reason == "INVALID_CREDENTIALS"
    locked = await refused(api.login("dee@example.com", ip="10.0.1.1"))
    unknown = await refused(api.login("nobody@example.com", ip="10.0.1.2"))
    assert locked.details() == unknown.details()
    assert error_info(locked) == error_info(unknown)
    audit = api.served.audit()
    actions = [e.action.value for e in audit if e.target == "dee@example.com"]
    assert actions.count("auth.lockout") == 1
    assert {e.origin for e in audit if e.target == "dee@example.com"} >= {"10.0.0.0", "10.0.1.1"}
    assert "wrong password" not in str(audit)


async def test_login_is_limited_per_client_address_with_retry_after(api: Api) -> None:
    await api.signup("eve@example.com")
    per_minute = int(DEFAULT_LIMITS["login"][0].split("/")[0])
    for _ in range(per_minute):
        await api.login("eve@example.com", ip="198.51.100.1")
    limited = await refused(api.login("eve@example.com", ip="198.51.100.1"))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 1 <= int(trailers(limited)["retry-after"]) <= 60
    assert trailers(limited)["request-id"].startswith("req_")
    status = rpc_status.from_call(limited)  # type: ignore[arg-type]
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR))
    assert retry.retry_delay.seconds == int(trailers(limited)["retry-after"])
    await api.login("eve@example.com", ip="198.51.100.2")  # another address is not limited


def test_the_client_address_comes_from_a_trusted_proxy_only() -> None:
    loopback = parse_networks("")
    assert peer_address("ipv4:10.1.2.3:5555") == "10.1.2.3"
    assert peer_address("ipv6:%5B::1%5D:5555") == "::1"
    assert peer_address("ipv6:[2001:db8::1]:443") == "2001:db8::1"
    # Envoy appends what it saw: the last entry. The ones before came from the client.
    assert client_address("ipv4:127.0.0.1:1", "6.6.6.6, 203.0.113.9", loopback) == "203.0.113.9"
    assert client_address("ipv4:10.9.9.9:1", "203.0.113.9", loopback) == "10.9.9.9"
    assert client_address("ipv4:127.0.0.1:1", "not-an-ip", loopback) == "127.0.0.1"
    assert client_address("ipv4:10.9.9.9:1", "1.2.3.4", parse_networks("10.0.0.0/8")) == "1.2.3.4"


# --- per-merchant limits ----------------------------------------------------------------


async def test_payment_creations_past_the_merchants_limit_are_429(api: Api) -> None:
    signed = await api.signup("fay@example.com")
    seeded = await api.app.auth.authenticate(
        (await api.login("fay@example.com")).access_token, signed.account.id
    )
    await api.app.gate.rate_limits.configure(seeded, "payments_create", ("3/hour",))
    session = await api.login("fay@example.com", ip="192.0.2.50")
    as_fay = bearer(session.access_token, signed.account.id)
    request = payment_intents_pb2.CreatePaymentIntentRequest(amount=100, currency="usd")
    for _ in range(3):
        await api.intents.CreatePaymentIntent(request, metadata=as_fay)
    limited = await refused(api.intents.CreatePaymentIntent(request, metadata=as_fay))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_info(limited).reason == "RATE_LIMITED"
    assert int(trailers(limited)["retry-after"]) >= 1
    # Other route classes are counted apart.
    await api.intents.ListPaymentIntents(
        payment_intents_pb2.ListPaymentIntentsRequest(), metadata=as_fay
    )


# --- members and keys -------------------------------------------------------------------


async def test_invite_accept_change_role_remove(api: Api) -> None:
    owner = await api.signup("gus@example.com", "Gus Ltd")
    await api.signup("hal@example.com", "Hal's own")
    as_gus = bearer((await api.login("gus@example.com")).access_token, owner.account.id)
    hal_token = (await api.login("hal@example.com")).access_token

    invitation = await api.members.CreateInvitation(
        members_pb2.CreateInvitationRequest(email="hal@example.com", role=api_keys_pb2.DEVELOPER),
        metadata=as_gus,
    )
    assert invitation.token.startswith("invtok_")
    joined = await api.members.AcceptInvitation(
        members_pb2.AcceptInvitationRequest(token=invitation.token), metadata=bearer(hal_token)
    )
    assert (joined.email, joined.role) == ("hal@example.com", api_keys_pb2.DEVELOPER)

    as_hal = bearer(hal_token, owner.account.id)
    listed = await api.members.ListMembers(members_pb2.ListMembersRequest(), metadata=as_hal)
    assert {m.email for m in listed.data} == {"gus@example.com", "hal@example.com"}
    denied = await refused(
        api.members.RemoveMember(
            members_pb2.RemoveMemberRequest(user_id=joined.user_id), metadata=as_hal
        )
    )
    assert error_info(denied).metadata["permission"] == "members:write"

    changed = await api.members.UpdateMemberRole(
        members_pb2.UpdateMemberRoleRequest(user_id=joined.user_id, role=api_keys_pb2.STAFF),
        metadata=as_gus,
    )
    assert changed.role == api_keys_pb2.STAFF
    await api.members.RemoveMember(
        members_pb2.RemoveMemberRequest(user_id=joined.user_id), metadata=as_gus
    )
    gone = await refused(api.members.ListMembers(members_pb2.ListMembersRequest(), metadata=as_hal))
    assert error_info(gone).reason == "NOT_A_MEMBER"

    gus_id = next(m.user_id for m in listed.data if m.email == "gus@example.com")
    last = await refused(
        api.members.RemoveMember(members_pb2.RemoveMemberRequest(user_id=gus_id), metadata=as_gus)
    )
    assert (last.code(), error_info(last).reason) == (
        grpc.StatusCode.FAILED_PRECONDITION, "LAST_OWNER",
    )  # fmt: skip


async def test_roll_an_api_key(api: Api) -> None:
    owner = await api.signup("ida@example.com")
    session = await api.login("ida@example.com")
    as_ida = bearer(session.access_token, owner.account.id)
    created = await api.keys.CreateApiKey(
        api_keys_pb2.CreateApiKeyRequest(type=api_keys_pb2.ApiKey.SECRET), metadata=as_ida
    )
    rolled = await api.keys.RollApiKey(
        api_keys_pb2.RollApiKeyRequest(id=created.id), metadata=as_ida
    )
    assert rolled.secret.startswith("sk_test_") and rolled.id != created.id
    listed = await api.keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=as_ida)
    old = next(k for k in listed.data if k.id == created.id)
    assert old.expires_at.seconds - rolled.created.seconds == 86400
    assert all(k.secret == "" for k in listed.data)

    now = await api.keys.RollApiKey(
        api_keys_pb2.RollApiKeyRequest(id=rolled.id, grace_period_seconds={"value": 0}),
        metadata=as_ida,
    )
    error = await refused(
        api.keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=bearer(rolled.secret))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    await api.keys.ListApiKeys(api_keys_pb2.ListApiKeysRequest(), metadata=bearer(now.secret))
    for seconds in (-1, 10**12):
        bad = await refused(
            api.keys.RollApiKey(
                api_keys_pb2.RollApiKeyRequest(id=now.id, grace_period_seconds={"value": seconds}),
                metadata=as_ida,
            )
        )
        assert error_info(bad).metadata["param"] == "grace_period_seconds"
