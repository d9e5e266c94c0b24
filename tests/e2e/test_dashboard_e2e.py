"""The dashboard's backend through the real gateway: the business profile and what it
changes (new intents, the hosted checkout), the onboarding checklist, analytics and the
audit log, over REST through Envoy and over gRPC."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from paygate.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    audit_log_pb2,
    audit_log_pb2_grpc,
    business_profile_pb2,
    business_profile_pb2_grpc,
)

from tests.e2e.gateway import Gateway, sign_up

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
LOGO = "https://cdn.example.com/acme-logo.png"


def error_info(body: dict[str, Any]) -> dict[str, Any]:
    (info,) = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    return info


@pytest.fixture(scope="module")
def owner(gateway: Gateway) -> dict[str, str]:
    session = sign_up(gateway, secrets.token_urlsafe(18))
    return {
        "Authorization": f"Bearer {session['access_token']}",
        "Paygate-Account": session["accounts"][0]["account"]["id"],
    }


async def secret_key(rest: httpx.AsyncClient, owner: dict[str, str], role: str) -> str:
    created = await rest.post("/v1/api_keys", json={"type": "SECRET", "role": role}, headers=owner)
    assert created.status_code == 200, created.text
    key: str = created.json()["secret"]
    return key


async def pay(
    rest: httpx.AsyncClient, key: dict[str, str], amount: int, currency: str
) -> dict[str, Any]:
    token = await rest.post(
        "/v1/tokens",
        json={
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
        },
        headers=key,
    )
    assert token.status_code == 200, token.text
    intent = await rest.post(
        "/v1/payment_intents", json={"amount": amount, "currency": currency}, headers=key
    )
    assert intent.status_code == 200, intent.text
    confirmed = await rest.post(
        f"/v1/payment_intents/{intent.json()['id']}/confirm",
        json={"payment_method": token.json()["id"]},
        headers={**key, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert confirmed.status_code == 200, confirmed.text
    paid: dict[str, Any] = confirmed.json()
    return paid


async def test_profile_checklist_analytics_and_audit_over_rest(
    gateway: Gateway, owner: dict[str, str], rest: httpx.AsyncClient
) -> None:
    fresh = await rest.get("/v1/business_profile", headers=owner)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["business_name"] == "Test Ltd"
    assert fresh.json()["default_capture_method"] == "AUTOMATIC"
    start = await rest.get("/v1/onboarding_checklist", headers=owner)
    assert start.json()["complete"] is False and start.json()["api_key_created"] is False

    # A bad field: 400 naming it, and nothing saved.
    bad = await rest.post(
        "/v1/business_profile",
        json={"profile": {"country": "DE", "logo_url": "http://cdn.example.com/logo.png"}},
        headers={**owner, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert bad.status_code == 400, bad.text
    assert error_info(bad.json())["metadata"]["param"] == "profile.logo_url"
    assert (await rest.get("/v1/business_profile", headers=owner)).json()["country"] == ""

    saved = await rest.post(
        "/v1/business_profile",
        json={
            "profile": {
                "business_name": "Acme Coffee",
                "statement_descriptor": "ACME COFFEE",
                "support_email": "help@acme.example",
                "support_url": "https://acme.example/help",
                "country": "de",
                "accepted_currencies": ["usd"],
                "default_capture_method": "MANUAL",
                "branding_color": "#AA3300",
                "logo_url": LOGO,
            }
        },
        headers={**owner, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert saved.status_code == 200, saved.text
    profile = saved.json()
    assert (profile["country"], profile["accepted_currencies"]) == ("DE", ["USD"])
    assert profile["branding_color"] == "#aa3300" and profile["updated"]

    key = {"Authorization": f"Bearer {await secret_key(rest, owner, 'ADMIN')}"}
    refused = await rest.post(
        "/v1/payment_intents", json={"amount": 500, "currency": "eur"}, headers=key
    )
    assert refused.status_code == 400, refused.text
    assert error_info(refused.json())["reason"] == "CURRENCY_NOT_ACCEPTED"
    assert error_info(refused.json())["metadata"]["param"] == "currency"

    # The default capture method applies: the payment waits for its capture.
    held = await pay(rest, key, 2_000, "usd")
    assert held["status"] == "REQUIRES_CAPTURE" and held["capture_method"] == "MANUAL"
    captured = await rest.post(
        f"/v1/payment_intents/{held['id']}/capture",
        json={},
        headers={**key, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert captured.json()["status"] == "SUCCEEDED", captured.text

    # The hosted checkout shows the name, the colour and the logo.
    publishable = await rest.post("/v1/api_keys", json={"type": "PUBLISHABLE"}, headers=owner)
    assert publishable.status_code == 200, publishable.text
    page = await rest.get(held["checkout_url"].replace(gateway.rest_url, ""))
    assert page.status_code == 200, page.text
    assert 'data-merchant="Acme Coffee"' in page.text
    assert 'data-brand-color="#aa3300"' in page.text and LOGO in page.text
    assert "https://cdn.example.com" in page.headers["content-security-policy"]

    checklist = (await rest.get("/v1/onboarding_checklist", headers=owner)).json()
    assert checklist["profile_complete"] and checklist["api_key_created"]
    assert checklist["test_payment_made"] and not checklist["webhook_endpoint_set"]

    analytics = await rest.get(
        "/v1/analytics/payments",
        params={
            "currency": "usd",
            "start": (TODAY - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "end": (TODAY + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            "interval": "DAY",
        },
        headers=owner,
    )
    assert analytics.status_code == 200, analytics.text
    totals = analytics.json()["totals"]
    assert (totals["payments"], totals["succeeded"], totals["volume"]) == ("1", "1", "2000")
    assert totals["fees"] == str(58 + 30) and totals["net"] == str(2_000 - 88)
    assert len(analytics.json()["buckets"]) == 2
    not_boundary = await rest.get(
        "/v1/analytics/payments",
        params={"currency": "usd", "start": "2026-01-01T10:30:00Z", "end": "2026-01-02T00:00:00Z"},
        headers=owner,
    )
    assert not_boundary.status_code == 400
    assert error_info(not_boundary.json())["metadata"]["param"] == "start"

    audit = await rest.get(
        "/v1/audit_events", params={"action": "account.profile_update"}, headers=owner
    )
    assert audit.status_code == 200, audit.text
    (event,) = audit.json()["data"]
    assert event["actor"].startswith("usr_") and event["outcome"] == "SUCCESS"
    assert event["id"].startswith("aev_") and "logo_url" in event["details"]["fields"]

    exported = await rest.get("/v1/audit_events/export", params={"format": "CSV"}, headers=owner)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["id", "occurred_at", "action"]
    assert {"account.profile_update", "api_key.create", "user.signup"} <= {r[2] for r in rows[1:]}
    as_json = await rest.get(
        "/v1/audit_events/export",
        params={"format": "JSON", "action": "account.profile_update"},
        headers=owner,
    )
    assert as_json.headers["content-type"].startswith("application/json")
    assert [e["action"] for e in as_json.json()] == ["account.profile_update"]


async def test_permissions_hold_at_the_edge(
    gateway: Gateway, owner: dict[str, str], rest: httpx.AsyncClient
) -> None:
    as_staff = {"Authorization": f"Bearer {await secret_key(rest, owner, 'STAFF')}"}
    as_developer = {"Authorization": f"Bearer {await secret_key(rest, owner, 'DEVELOPER')}"}
    assert (await rest.get("/v1/business_profile", headers=as_staff)).status_code == 200
    for headers in (as_staff, as_developer):
        update = await rest.post(
            "/v1/business_profile",
            json={"profile": {"country": "FR"}},
            headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
        )
        assert update.status_code == 403, update.text
        for path in ("/v1/audit_events", "/v1/audit_events/export"):
            denied = await rest.get(path, headers=headers)
            assert denied.status_code == 403, denied.text
            assert error_info(denied.json())["reason"] == "MISSING_PERMISSION"


def _ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def test_the_same_rpcs_over_grpc(gateway: Gateway, owner: dict[str, str]) -> None:
    metadata = (
        ("authorization", owner["Authorization"]),
        ("paygate-account", owner["Paygate-Account"]),
    )
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        profiles = business_profile_pb2_grpc.BusinessProfileServiceStub(channel)
        updated = await profiles.UpdateBusinessProfile(
            business_profile_pb2.UpdateBusinessProfileRequest(
                profile=business_profile_pb2.BusinessProfile(support_email="grpc@acme.example"),
                update_mask=["support_email"],
            ),
            metadata=(*metadata, ("idempotency-key", secrets.token_hex(8))),
        )
        assert updated.support_email == "grpc@acme.example"
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await profiles.UpdateBusinessProfile(
                business_profile_pb2.UpdateBusinessProfileRequest(
                    profile=business_profile_pb2.BusinessProfile(branding_color="blue")
                ),
                metadata=(*metadata, ("idempotency-key", secrets.token_hex(8))),
            )
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "profile.branding_color" in (raised.value.details() or "")
        checklist = await profiles.GetOnboardingChecklist(
            business_profile_pb2.GetOnboardingChecklistRequest(), metadata=metadata
        )
        assert "support_email" not in checklist.missing_profile_fields

        analytics = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        hourly = await analytics.GetPaymentAnalytics(
            analytics_pb2.GetPaymentAnalyticsRequest(
                currency="USD",
                start=_ts(TODAY),
                end=_ts(TODAY + timedelta(days=1)),
                interval=analytics_pb2.PaymentAnalytics.HOUR,
            ),
            metadata=metadata,
        )
        assert len(hourly.buckets) == 24
        assert sum(b.figures.volume for b in hourly.buckets) == hourly.totals.volume

        audit = audit_log_pb2_grpc.AuditLogServiceStub(channel)
        page = await audit.ListAuditEvents(
            audit_log_pb2.ListAuditEventsRequest(limit=1), metadata=metadata
        )
        assert len(page.data) == 1 and page.has_more
        following = await audit.ListAuditEvents(
            audit_log_pb2.ListAuditEventsRequest(limit=1, starting_after=page.data[0].id),
            metadata=metadata,
        )
        assert following.data[0].id != page.data[0].id
        body = await audit.ExportAuditEvents(
            audit_log_pb2.ExportAuditEventsRequest(
                format=audit_log_pb2.ExportAuditEventsRequest.JSON
            ),
            metadata=metadata,
        )
        assert body.content_type == "application/json" and body.data.startswith(b"[")
